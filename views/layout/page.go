// Package layout holds the app shell every page is composed into.
package layout

import (
	"strconv"
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
	// Rendered is when the page's data was read; the live stream replays
	// what changed after it, so nothing between render and connect is lost.
	Rendered time.Time
}

// EventsURL is the live stream's address for this page.
func (p Page) EventsURL() string {
	return "/events?since=" + strconv.FormatInt(p.Rendered.UnixMicro(), 10)
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
	{Key: "replies", Label: "Saved replies", Href: "/replies"},
	{Key: "senders", Label: "Senders", Href: "/senders", AdminOnly: true},
	{Key: "templates", Label: "Templates", Href: "/templates", AdminOnly: true},
	{Key: "users", Label: "People", Href: "/users", AdminOnly: true},
	{Key: "departments", Label: "Departments", Href: "/departments", AdminOnly: true},
	{Key: "settings", Label: "Settings", Href: "/settings", AdminOnly: true},
}

// VisibleNav is the entries everyone uses, shown in the bar itself.
func (p Page) VisibleNav() []NavItem {
	out := make([]NavItem, 0, len(Nav))
	for _, n := range Nav {
		if !n.AdminOnly {
			out = append(out, n)
		}
	}
	return out
}

// AdminNav is the admin entries, grouped in one "Admin" menu so the bar
// stays on one line; empty for staff.
func (p Page) AdminNav() []NavItem {
	if p.User == nil || !p.User.IsAdmin() {
		return nil
	}
	var out []NavItem
	for _, n := range Nav {
		if n.AdminOnly {
			out = append(out, n)
		}
	}
	return out
}

// AdminActive reports whether the current page is in the Admin menu.
func (p Page) AdminActive() bool {
	for _, n := range p.AdminNav() {
		if n.Key == p.Active {
			return true
		}
	}
	return false
}

// htmxConfig keeps htmx CSP-clean (no eval, no injected indicator styles) and
// swaps error answers: a 422 is the form with its errors, and every other
// error answer to htmx is retargeted by the server to the toast region.
const htmxConfig = `{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"historyCacheSize":0,` +
	`"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},{"code":"422","swap":true},` +
	`{"code":"[45]..","swap":true,"error":true}]}`
