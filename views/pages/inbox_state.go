package pages

import (
	"net/url"
	"strconv"

	"github.com/classline/classline/db"
)

// InboxState is the list a page shows: which view, status, sort or search,
// with the counts of every view the user has.
type InboxState struct {
	View         string
	DepartmentID int64
	Status       string
	Sort         string
	Query        string
	Admin        bool
	UserID       int64
	Departments  []db.Department
	Counts       db.InboxCounts
	Page         db.InboxPage
}

// Params are the list's query parameters, for links that keep the list.
func (s InboxState) Params() url.Values {
	v := url.Values{}
	if s.View != "" && s.View != db.ViewAll {
		v.Set("view", s.View)
	}
	if s.View == db.ViewDepartment {
		v.Set("department", strconv.FormatInt(s.DepartmentID, 10))
	}
	if s.Status != "" && s.Status != "open" {
		v.Set("status", s.Status)
	}
	if s.Sort == db.SortWaiting {
		v.Set("sort", s.Sort)
	}
	return v
}

// With returns the inbox URL for this state changed by f.
func (s InboxState) With(f func(*InboxState)) string {
	f(&s)
	q := s.Params().Encode()
	if q == "" {
		return "/inbox"
	}
	return "/inbox?" + q
}

// NextURL is the "load more" address.
func (s InboxState) NextURL() string {
	v := s.Params()
	v.Set("after", s.Page.Next.String())
	v.Set("more", "1")
	return "/inbox?" + v.Encode()
}

// ViewLink is one entry of the views menu.
type ViewLink struct {
	Label  string
	Href   string
	Count  db.ViewCount
	Active bool
}

// ViewLinks lists the user's views in order: Mine, Unassigned, each
// department, All.
func (s InboxState) ViewLinks() []ViewLink {
	searching := s.Query != ""
	links := []ViewLink{
		{Label: "Mine", Href: s.With(func(x *InboxState) { x.View = db.ViewMine }), Count: s.Counts.Mine, Active: !searching && s.View == db.ViewMine},
		{Label: "Unassigned", Href: s.With(func(x *InboxState) { x.View = db.ViewUnassigned }), Count: s.Counts.Unassigned, Active: !searching && s.View == db.ViewUnassigned},
	}
	for _, d := range s.Departments {
		links = append(links, ViewLink{Label: d.Name, Href: s.With(func(x *InboxState) { x.View, x.DepartmentID = db.ViewDepartment, d.ID }),
			Count: s.Counts.Departments[d.ID], Active: !searching && s.View == db.ViewDepartment && s.DepartmentID == d.ID})
	}
	all := "All my departments"
	if s.Admin {
		all = "All"
	}
	links = append(links, ViewLink{Label: all, Href: s.With(func(x *InboxState) { x.View = db.ViewAll }), Count: s.Counts.All, Active: !searching && (s.View == db.ViewAll || s.View == "")})
	return links
}

// EmptyText says why the list is empty and what to do.
func (s InboxState) EmptyText() string {
	switch {
	case s.Query != "":
		return "Nothing matches “" + s.Query + "”. Try part of a name, a phone number or a word from a message."
	case s.Sort == db.SortWaiting:
		return "Nobody is waiting for an answer here. Well done."
	case s.Status == "closed":
		return "No closed conversations in this view."
	case s.Status == "snoozed":
		return "No snoozed conversations. Snooze one to hide it until a time you choose."
	case s.View == db.ViewMine:
		return "Nothing is assigned to you. Pick one from Unassigned and press “Assign to me” (or a)."
	default:
		return "No open conversations here. New messages from parents appear as they arrive."
	}
}

func countText(n int) string { return strconv.Itoa(n) }

func currentIf(b bool) string {
	if b {
		return "page"
	}
	return "false"
}

func statusOrOpen(s string) string {
	if s == "" {
		return "open"
	}
	return s
}

// liveMode tells app.js what to do with live rows: search results stay as
// they are; the waiting sort keeps its order; other views move news to the top.
func liveMode(st InboxState) string {
	switch {
	case st.Query != "":
		return "frozen"
	case st.Sort == db.SortWaiting:
		return "in-place"
	default:
		return "move-to-top"
	}
}
