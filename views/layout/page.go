// Package layout holds the app shell every page is composed into.
package layout

import (
	"time"

	"github.com/classline/classline/db"
)

// Page is what the shell needs to know about the request.
type Page struct {
	Title     string
	User      *db.User // nil when signed out
	CSRF      string
	Active    string // nav key of the current area
	Simulated bool
	TZ        *time.Location
}

// NavItem is one entry of the top navigation.
type NavItem struct {
	Key, Label, Href string
	AdminOnly        bool
}

// Nav lists the areas in the order staff use them.
var Nav = []NavItem{
	{Key: "inbox", Label: "Inbox", Href: "/inbox"},
	{Key: "broadcasts", Label: "Broadcasts", Href: "/broadcasts"},
	{Key: "dashboard", Label: "Dashboard", Href: "/dashboard"},
	{Key: "contacts", Label: "Contacts", Href: "/contacts"},
	{Key: "senders", Label: "Senders", Href: "/senders", AdminOnly: true},
	{Key: "templates", Label: "Templates", Href: "/templates", AdminOnly: true},
	{Key: "users", Label: "Users", Href: "/users", AdminOnly: true},
}

// VisibleNav filters Nav for the user.
func (p Page) VisibleNav() []NavItem {
	out := make([]NavItem, 0, len(Nav))
	for _, n := range Nav {
		if n.AdminOnly && (p.User == nil || !p.User.IsAdmin()) {
			continue
		}
		out = append(out, n)
	}
	return out
}
