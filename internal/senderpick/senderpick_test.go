package senderpick_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/db/dbtest"
	"github.com/classline/classline/internal/senderpick"
)

var now = time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)

const (
	admissions int64 = 1
	finance    int64 = 2
	transport  int64 = 3
	library    int64 = 4
	empty      int64 = 5 // a department without senders
)

var depNames = map[int64]string{admissions: "Admissions", finance: "Finance", transport: "Transport", library: "Library"}

func ago(d time.Duration) *time.Time { t := now.Add(-d); return &t }

type opt func(*db.PoolSender)

func used(d time.Duration) opt { return func(s *db.PoolSender) { s.LastUsedAt = ago(d) } }
func status(st string, why ...string) opt {
	return func(s *db.PoolSender) { s.Status = st; s.OfflineReasons = why }
}
func isDefault() opt { return func(s *db.PoolSender) { s.Default = true } }
func archived() opt  { return func(s *db.PoolSender) { s.Archived = true } }
func service(sid string) opt {
	return func(s *db.PoolSender) { s.MessagingServiceSID = sid; s.Address = "" }
}

func sender(id int64, channel string, dep int64, name string, opts ...opt) db.PoolSender {
	s := db.PoolSender{Sender: db.Sender{
		ID: id, Channel: channel, Address: fmt.Sprintf("+1415555%04d", id), DisplayName: name, Status: "ONLINE",
	}}
	if dep != 0 {
		s.DepartmentID = &dep
		s.DepartmentName = depNames[dep]
	}
	for _, o := range opts {
		o(&s)
	}
	return s
}

// The school: Admissions has three WhatsApp numbers (one offline, one
// archived) and a Messaging Service; Finance's SMS senders are all unready;
// Transport's WhatsApp senders are all offline; Library's first is offline.
var school = []db.PoolSender{
	sender(10, "whatsapp", admissions, "Admissions main", used(2*time.Hour)),
	sender(11, "whatsapp", admissions, "Admissions 2", used(3*24*time.Hour)),
	sender(12, "whatsapp", admissions, "Admissions spare", status("OFFLINE", "Display name rejected")), // never used: LRU first if online
	sender(13, "sms", admissions, "Admissions SMS", used(time.Hour)),
	sender(14, "whatsapp", admissions, "Admissions service", service("MG111"), used(time.Hour)),
	sender(15, "whatsapp", admissions, "Admissions old", archived()), // never used, online: never picked
	sender(20, "whatsapp", finance, "Finance", used(5*time.Minute)),
	sender(21, "sms", finance, "Finance SMS", status("OFFLINE")),
	sender(22, "sms", finance, "Finance SMS 2", status("CREATING")),
	sender(30, "whatsapp", transport, "Bus desk", status("OFFLINE", "Quality rating low")),
	sender(31, "whatsapp", transport, "Bus desk 2", status("OFFLINE")),
	sender(40, "whatsapp", library, "Library", status("OFFLINE")),
	sender(41, "whatsapp", library, "Library 2"),
	sender(42, "whatsapp", library, "Library service", service("MG444"), status("PENDING_VERIFICATION")),
	sender(90, "whatsapp", 0, "Unassigned"),
}

var (
	staffAdm    = db.User{ID: 1, Role: "staff", DepartmentIDs: []int64{admissions}}
	staffAdmFin = db.User{ID: 2, Role: "staff", DepartmentIDs: []int64{admissions, finance}}
	staffNone   = db.User{ID: 3, Role: "staff"}
	admin       = db.User{ID: 4, Role: "admin"}
)

func sticky(id int64, d time.Duration) *senderpick.Sticky {
	return &senderpick.Sticky{SenderID: id, LastAt: now.Add(-d)}
}

func ids(us []senderpick.Unavailable) []int64 {
	out := []int64{}
	for _, u := range us {
		out = append(out, u.Sender.ID)
	}
	return out
}

func TestPick(t *testing.T) {
	type want struct {
		sender      int64
		strategy    string
		reason      string  // exact
		unavailable []int64 // nil: not checked
		cause       error   // an error wanted
		msg         string  // substring of the error message
	}
	for _, tc := range []struct {
		name  string
		req   senderpick.Request
		cands []db.PoolSender // nil: school
		last  *senderpick.Sticky
		want  want
	}{
		// specific
		{name: "specific: ok",
			req:  senderpick.Request{Strategy: "specific", Channel: "whatsapp", SenderID: 10, User: staffAdm},
			want: want{sender: 10, strategy: "specific", reason: "chosen by you", unavailable: []int64{}}},
		{name: "specific: offline, with Twilio's reason",
			req:  senderpick.Request{Strategy: "specific", Channel: "whatsapp", SenderID: 12, User: staffAdm},
			want: want{cause: senderpick.ErrUnavailable, unavailable: []int64{12}, msg: "Admissions spare (+14155550012) is offline at Twilio (Display name rejected), so it cannot send now"}},
		{name: "specific: still being created",
			req:  senderpick.Request{Strategy: "specific", Channel: "sms", SenderID: 22, User: staffAdmFin},
			want: want{cause: senderpick.ErrUnavailable, msg: "is still being created at Twilio"}},
		{name: "specific: another department's sender",
			req:  senderpick.Request{Strategy: "specific", Channel: "whatsapp", SenderID: 20, User: staffAdm},
			want: want{cause: senderpick.ErrNotAllowed, msg: "Choose one of your departments' senders."}},
		{name: "specific: another department's offline sender says nothing about it",
			req:  senderpick.Request{Strategy: "specific", Channel: "whatsapp", SenderID: 30, User: staffAdm},
			want: want{cause: senderpick.ErrNotAllowed, msg: "Choose one of your departments' senders."}},
		{name: "specific: admin may use any department's",
			req:  senderpick.Request{Strategy: "specific", Channel: "whatsapp", SenderID: 20, User: admin},
			want: want{sender: 20, strategy: "specific", reason: "chosen by you"}},
		{name: "specific: a sender without department is for admins only",
			req:  senderpick.Request{Strategy: "specific", Channel: "whatsapp", SenderID: 90, User: staffAdm},
			want: want{cause: senderpick.ErrNotAllowed}},
		{name: "specific: wrong channel",
			req:  senderpick.Request{Strategy: "specific", Channel: "whatsapp", SenderID: 13, User: staffAdm},
			want: want{cause: senderpick.ErrInvalid, msg: "Admissions SMS (+14155550013) sends SMS, not WhatsApp."}},
		{name: "specific: archived",
			req:  senderpick.Request{Strategy: "specific", Channel: "whatsapp", SenderID: 15, User: staffAdm},
			want: want{cause: senderpick.ErrUnavailable, msg: "is archived and no longer sends"}},
		{name: "specific: unknown sender",
			req:  senderpick.Request{Strategy: "specific", Channel: "whatsapp", SenderID: 999, User: admin},
			want: want{cause: senderpick.ErrInvalid, msg: "does not exist"}},
		{name: "specific: no sender given",
			req:  senderpick.Request{Strategy: "specific", Channel: "whatsapp", User: admin},
			want: want{cause: senderpick.ErrInvalid, msg: "Choose a sender."}},

		// department
		{name: "department: its first sender of the channel",
			req:  senderpick.Request{Strategy: "department", Channel: "whatsapp", DepartmentID: admissions, User: staffAdm},
			want: want{sender: 10, strategy: "department", reason: "Admissions' WhatsApp sender", unavailable: []int64{12}}},
		{name: "department: SMS",
			req:  senderpick.Request{Strategy: "department", Channel: "sms", DepartmentID: admissions, User: staffAdm},
			want: want{sender: 13, reason: "Admissions' SMS sender", unavailable: []int64{}}},
		{name: "department: possessive of a name without s",
			req:  senderpick.Request{Strategy: "department", Channel: "whatsapp", DepartmentID: finance, User: staffAdmFin},
			want: want{sender: 20, reason: "Finance's WhatsApp sender"}},
		{name: "department: first sender offline, the next one, saying so",
			req:  senderpick.Request{Strategy: "department", Channel: "whatsapp", DepartmentID: library, User: admin},
			want: want{sender: 41, reason: "Library's WhatsApp sender (Library (+14155550040) is offline at Twilio)", unavailable: []int64{40, 42}}},
		{name: "department: its default sender, not the first one set up",
			req:   senderpick.Request{Strategy: "department", Channel: "whatsapp", DepartmentID: admissions, User: staffAdm},
			cands: []db.PoolSender{sender(10, "whatsapp", admissions, "Admissions main"), sender(11, "whatsapp", admissions, "Admissions 2", isDefault())},
			want:  want{sender: 11, strategy: "department", reason: "Admissions' default WhatsApp sender", unavailable: []int64{}}},
		{name: "department: default offline, the first sendable one, saying why",
			req:   senderpick.Request{Strategy: "department", Channel: "whatsapp", DepartmentID: admissions, User: staffAdm},
			cands: []db.PoolSender{sender(10, "whatsapp", admissions, "Admissions main"), sender(11, "whatsapp", admissions, "Admissions 2", isDefault(), status("OFFLINE"))},
			want:  want{sender: 10, reason: "Admissions' WhatsApp sender (Admissions 2 (+14155550011) is offline at Twilio)", unavailable: []int64{11}}},
		{name: "department: the default of another channel does not count",
			req:   senderpick.Request{Strategy: "department", Channel: "whatsapp", DepartmentID: admissions, User: staffAdm},
			cands: []db.PoolSender{sender(10, "whatsapp", admissions, "Admissions main"), sender(11, "whatsapp", admissions, "Admissions 2"), sender(12, "sms", admissions, "SMS", isDefault())},
			want:  want{sender: 10, reason: "Admissions' WhatsApp sender"}},
		{name: "department: the user's only department when none given",
			req:  senderpick.Request{Strategy: "department", Channel: "whatsapp", User: staffAdm},
			want: want{sender: 10}},
		{name: "department: several departments, none given",
			req:  senderpick.Request{Strategy: "department", Channel: "whatsapp", User: staffAdmFin},
			want: want{cause: senderpick.ErrInvalid, msg: "Choose which department to send from."}},
		{name: "department: admin, none given",
			req:  senderpick.Request{Strategy: "department", Channel: "whatsapp", User: admin},
			want: want{cause: senderpick.ErrInvalid}},
		{name: "department: not the user's",
			req:  senderpick.Request{Strategy: "department", Channel: "whatsapp", DepartmentID: finance, User: staffAdm},
			want: want{cause: senderpick.ErrNotAllowed, msg: "only send from your own departments' senders"}},
		{name: "department: user in no department",
			req:  senderpick.Request{Strategy: "department", Channel: "whatsapp", User: staffNone},
			want: want{cause: senderpick.ErrNotAllowed, msg: "not in any department"}},
		{name: "department: every sender unready, each with its reason",
			req: senderpick.Request{Strategy: "department", Channel: "sms", DepartmentID: finance, User: staffAdmFin},
			want: want{cause: senderpick.ErrUnavailable, unavailable: []int64{21, 22},
				msg: "No SMS sender of Finance can send now: Finance SMS (+14155550021) is offline at Twilio; Finance SMS 2 (+14155550022) is still being created at Twilio."}},
		{name: "department: none set up, named from another channel's sender",
			req:  senderpick.Request{Strategy: "department", Channel: "sms", DepartmentID: transport, User: admin},
			want: want{cause: senderpick.ErrNoneSetUp, msg: "No SMS sender is set up for Transport."}},
		{name: "department: none set up, named by the request",
			req:  senderpick.Request{Strategy: "department", Channel: "sms", DepartmentID: empty, DepartmentName: "Sports", User: admin},
			want: want{cause: senderpick.ErrNoneSetUp, msg: "No SMS sender is set up for Sports."}},
		{name: "department: no candidates at all",
			req:   senderpick.Request{Strategy: "department", Channel: "whatsapp", DepartmentID: empty, User: admin},
			cands: []db.PoolSender{},
			want:  want{cause: senderpick.ErrNoneSetUp, msg: "No WhatsApp sender is set up for this department."}},

		// lru
		{name: "lru: the oldest use, skipping offline and archived never-used ones",
			req:  senderpick.Request{Strategy: "lru", Channel: "whatsapp", DepartmentID: admissions, User: staffAdm},
			want: want{sender: 11, strategy: "lru", reason: "least recently used in Admissions' pool (last used 3 days ago)", unavailable: []int64{12}}},
		{name: "lru: never used first",
			req: senderpick.Request{Strategy: "lru", Channel: "whatsapp", DepartmentID: admissions, User: staffAdm},
			cands: []db.PoolSender{
				sender(1, "whatsapp", admissions, "A", used(time.Minute)),
				sender(2, "whatsapp", admissions, "B"),
				sender(3, "whatsapp", admissions, "C", used(48*time.Hour)),
			},
			want: want{sender: 2, reason: "least recently used in Admissions' pool (never used)"}},
		{name: "lru: ties by lowest id",
			req: senderpick.Request{Strategy: "lru", Channel: "whatsapp", DepartmentID: admissions, User: staffAdm},
			cands: []db.PoolSender{
				sender(7, "whatsapp", admissions, "A", used(2*time.Hour)),
				sender(5, "whatsapp", admissions, "B", used(2*time.Hour)),
				sender(6, "whatsapp", admissions, "C", used(time.Hour)),
			},
			want: want{sender: 5, reason: "least recently used in Admissions' pool (last used 2 h ago)"}},
		{name: "lru: ONLINE:UPDATING can send",
			req: senderpick.Request{Strategy: "lru", Channel: "whatsapp", DepartmentID: admissions, User: staffAdm},
			cands: []db.PoolSender{
				sender(1, "whatsapp", admissions, "A", used(time.Minute)),
				sender(2, "whatsapp", admissions, "B", used(time.Hour), status("ONLINE:UPDATING")),
			},
			want: want{sender: 2, unavailable: []int64{}}},
		{name: "lru: other channel and department ignored",
			req:  senderpick.Request{Strategy: "lru", Channel: "sms", DepartmentID: admissions, User: staffAdm},
			want: want{sender: 13, reason: "least recently used in Admissions' pool (last used 1 h ago)", unavailable: []int64{}}},
		{name: "lru: all senders offline, a clear error listing why",
			req: senderpick.Request{Strategy: "lru", Channel: "whatsapp", DepartmentID: transport, User: admin},
			want: want{cause: senderpick.ErrUnavailable, unavailable: []int64{30, 31},
				msg: "Every WhatsApp sender of Transport is offline at Twilio (Bus desk (+14155550030): Quality rating low; Bus desk 2 (+14155550031))."}},
		{name: "lru: the only sender offline",
			req:   senderpick.Request{Strategy: "lru", Channel: "whatsapp", DepartmentID: transport, User: admin},
			cands: []db.PoolSender{sender(30, "whatsapp", transport, "Bus desk", status("OFFLINE", "Account suspended"))},
			want: want{cause: senderpick.ErrUnavailable,
				msg: "The only WhatsApp sender of Transport, Bus desk (+14155550030), is offline at Twilio (Account suspended), so nothing can be sent from it now."}},
		{name: "lru: unknown status is unavailable too",
			req:   senderpick.Request{Strategy: "lru", Channel: "whatsapp", DepartmentID: transport, User: admin},
			cands: []db.PoolSender{sender(30, "whatsapp", transport, "Bus desk", status("SUSPENDED"))},
			want:  want{cause: senderpick.ErrUnavailable, msg: `in status "SUSPENDED" at Twilio`}},
		{name: "lru: not the user's department",
			req:  senderpick.Request{Strategy: "lru", Channel: "whatsapp", DepartmentID: transport, User: staffAdm},
			want: want{cause: senderpick.ErrNotAllowed}},

		// sticky
		{name: "sticky: the number the contact last spoke with",
			req:  senderpick.Request{Strategy: "sticky", Channel: "whatsapp", ContactPhone: "+15550104242", User: staffAdm},
			last: sticky(10, 3*24*time.Hour+time.Hour),
			want: want{sender: 10, strategy: "sticky", reason: "sticky: last used with this contact 3 days ago", unavailable: []int64{}}},
		{name: "sticky: a sender of another of the user's departments, no department given",
			req:  senderpick.Request{Strategy: "sticky", Channel: "whatsapp", User: staffAdmFin},
			last: sticky(20, 2*time.Hour),
			want: want{sender: 20, strategy: "sticky", reason: "sticky: last used with this contact 2 h ago"}},
		{name: "sticky: offline, falls back to lru saying why",
			req:  senderpick.Request{Strategy: "sticky", Channel: "whatsapp", DepartmentID: admissions, User: staffAdm},
			last: sticky(12, time.Hour),
			want: want{sender: 11, strategy: "lru", unavailable: []int64{12},
				reason: "sticky sender offline: Admissions spare (+14155550012) is offline at Twilio (Display name rejected); least recently used in Admissions' pool (last used 3 days ago)"}},
		{name: "sticky: offline, falls back in the sticky sender's department",
			req:  senderpick.Request{Strategy: "sticky", Channel: "whatsapp", User: staffAdmFin},
			last: sticky(12, time.Hour),
			want: want{sender: 11, strategy: "lru"}},
		{name: "sticky: not ready, says unavailable",
			req:  senderpick.Request{Strategy: "sticky", Channel: "whatsapp", User: admin},
			last: sticky(42, time.Hour),
			want: want{sender: 41, strategy: "lru", unavailable: []int64{42, 40},
				reason: "sticky sender unavailable: Library service (MG444) is waiting for its number to be verified at Twilio; least recently used in Library's pool (never used)"}},
		{name: "sticky: no earlier conversation",
			req:  senderpick.Request{Strategy: "sticky", Channel: "whatsapp", ContactPhone: "+15550100000", User: staffAdm},
			want: want{sender: 11, strategy: "lru", reason: "no earlier WhatsApp conversation with this contact; least recently used in Admissions' pool (last used 3 days ago)"}},
		{name: "sticky: no earlier conversation and several departments",
			req:  senderpick.Request{Strategy: "sticky", Channel: "whatsapp", User: staffAdmFin},
			want: want{cause: senderpick.ErrInvalid, msg: "Choose which department"}},
		{name: "sticky: the contact's number is another department's, outside the user's scope",
			req:  senderpick.Request{Strategy: "sticky", Channel: "whatsapp", User: staffAdm},
			last: sticky(30, time.Hour),
			want: want{sender: 11, strategy: "lru", unavailable: []int64{12},
				reason: "the contact last spoke with another department's number; least recently used in Admissions' pool (last used 3 days ago)"}},
		{name: "sticky: another department than the one asked for",
			req:  senderpick.Request{Strategy: "sticky", Channel: "whatsapp", DepartmentID: admissions, User: staffAdmFin},
			last: sticky(20, time.Hour),
			want: want{sender: 11, strategy: "lru"}},
		{name: "sticky: archived",
			req:  senderpick.Request{Strategy: "sticky", Channel: "whatsapp", User: staffAdm},
			last: sticky(15, time.Hour),
			want: want{sender: 11, strategy: "lru", unavailable: []int64{15, 12},
				reason: "sticky sender archived: Admissions old (+14155550015) no longer sends; least recently used in Admissions' pool (last used 3 days ago)"}},
		{name: "sticky: another channel's conversation does not count",
			req:  senderpick.Request{Strategy: "sticky", Channel: "whatsapp", User: staffAdm},
			last: sticky(13, time.Hour),
			want: want{sender: 11, strategy: "lru"}},
		{name: "sticky: unknown sender",
			req:  senderpick.Request{Strategy: "sticky", Channel: "whatsapp", User: staffAdm},
			last: sticky(999, time.Hour),
			want: want{sender: 11, strategy: "lru", reason: "the number the contact last spoke with is no longer available; least recently used in Admissions' pool (last used 3 days ago)"}},
		{name: "sticky: offline and the whole pool offline",
			req:  senderpick.Request{Strategy: "sticky", Channel: "whatsapp", User: admin},
			last: sticky(31, time.Hour),
			want: want{cause: senderpick.ErrUnavailable, unavailable: []int64{31, 30}, msg: "Every WhatsApp sender of Transport is offline at Twilio"}},

		// messaging_service
		{name: "messaging service",
			req:  senderpick.Request{Strategy: "messaging_service", Channel: "whatsapp", DepartmentID: admissions, User: staffAdm},
			want: want{sender: 14, strategy: "messaging_service", reason: "Admissions' Messaging Service MG111 (Twilio picks the number)", unavailable: []int64{}}},
		{name: "messaging service: none set up",
			req:  senderpick.Request{Strategy: "messaging_service", Channel: "whatsapp", DepartmentID: finance, User: admin},
			want: want{cause: senderpick.ErrNoneSetUp, msg: "No WhatsApp Messaging Service is set up for Finance."}},
		{name: "messaging service: not ready",
			req: senderpick.Request{Strategy: "messaging_service", Channel: "whatsapp", DepartmentID: library, User: admin},
			want: want{cause: senderpick.ErrUnavailable, unavailable: []int64{42},
				msg: "The only WhatsApp Messaging Service of Library, Library service (MG444), is waiting for its number to be verified at Twilio"}},

		// invalid
		{name: "unknown strategy",
			req:  senderpick.Request{Strategy: "random", Channel: "whatsapp", User: admin},
			want: want{cause: senderpick.ErrInvalid}},
		{name: "unknown channel",
			req:  senderpick.Request{Strategy: "lru", Channel: "fax", DepartmentID: admissions, User: admin},
			want: want{cause: senderpick.ErrInvalid, msg: "Choose WhatsApp or SMS."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cands := tc.cands
			if cands == nil {
				cands = school
			}
			got, err := senderpick.Pick(tc.req, cands, tc.last, now)
			w := tc.want
			if w.cause != nil {
				var ns *senderpick.NoSenderError
				if !errors.As(err, &ns) {
					t.Fatalf("err = %v (%T), want a *NoSenderError; choice %+v", err, err, got)
				}
				if !errors.Is(err, w.cause) {
					t.Errorf("cause = %v, want %v", ns.Cause, w.cause)
				}
				if !strings.Contains(ns.Message, w.msg) {
					t.Errorf("message = %q\nwant it to hold %q", ns.Message, w.msg)
				}
				if w.unavailable != nil && !slices.Equal(ids(ns.Unavailable), w.unavailable) {
					t.Errorf("unavailable = %v, want %v", ids(ns.Unavailable), w.unavailable)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got.Sender.ID != w.sender {
				t.Errorf("sender = %d, want %d (reason %q)", got.Sender.ID, w.sender, got.Reason)
			}
			if w.strategy != "" && got.Strategy != w.strategy {
				t.Errorf("strategy = %q, want %q", got.Strategy, w.strategy)
			}
			if w.reason != "" && got.Reason != w.reason {
				t.Errorf("reason = %q\nwant     %q", got.Reason, w.reason)
			}
			if w.unavailable != nil && !slices.Equal(ids(got.Unavailable), w.unavailable) {
				t.Errorf("unavailable = %v, want %v", ids(got.Unavailable), w.unavailable)
			}
		})
	}
}

// Whatever is asked, Pick never answers with a sender that cannot send,
// is archived, is of another channel or is outside the user's departments.
func TestPickNeverPicksUnusable(t *testing.T) {
	users := []db.User{staffAdm, staffAdmFin, staffNone, admin}
	lasts := []*senderpick.Sticky{nil}
	for _, s := range school {
		lasts = append(lasts, sticky(s.ID, time.Hour))
	}
	n := 0
	for _, u := range users {
		for _, strategy := range senderpick.Strategies {
			for _, channel := range []string{"whatsapp", "sms"} {
				for _, dep := range []int64{0, admissions, finance, transport, library, empty} {
					for _, sid := range []int64{0, 10, 12, 13, 15, 20, 41, 90} {
						for _, last := range lasts {
							req := senderpick.Request{Strategy: strategy, Channel: channel, DepartmentID: dep, SenderID: sid, User: u}
							got, err := senderpick.Pick(req, school, last, now)
							if err != nil {
								var ns *senderpick.NoSenderError
								if !errors.As(err, &ns) || ns.Message == "" || ns.Cause == nil {
									t.Fatalf("%+v: err = %v, want a *NoSenderError with message and cause", req, err)
								}
								continue
							}
							n++
							s, _ := find(got.Sender.ID)
							switch {
							case s.Archived, !db.SenderSendable(s.Status), s.Channel != channel:
								t.Fatalf("%+v (last %+v): picked unusable %+v", req, last, s)
							case !u.IsAdmin() && (s.DepartmentID == nil || !slices.Contains(u.DepartmentIDs, *s.DepartmentID)):
								t.Fatalf("%+v: picked %d outside the user's departments", req, s.ID)
							case dep != 0 && strategy != "specific" && *s.DepartmentID != dep:
								t.Fatalf("%+v: picked %d outside the department asked for", req, s.ID)
							case got.Reason == "":
								t.Fatalf("%+v: no reason", req)
							case slices.Contains(ids(got.Unavailable), got.Sender.ID):
								t.Fatalf("%+v: the chosen sender is listed unavailable", req)
							}
						}
					}
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("nothing was ever picked")
	}
}

func find(id int64) (db.PoolSender, bool) {
	for _, s := range school {
		if s.ID == id {
			return s, true
		}
	}
	return db.PoolSender{}, false
}

func TestAgo(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Minute, "just now"},
		{30 * time.Second, "just now"},
		{5 * time.Minute, "5 min ago"},
		{59 * time.Minute, "59 min ago"},
		{2*time.Hour + 40*time.Minute, "2 h ago"},
		{23 * time.Hour, "23 h ago"},
		{30 * time.Hour, "1 day ago"},
		{3*24*time.Hour + 5*time.Hour, "3 days ago"},
	} {
		if got := senderpick.Ago(tc.d); got != tc.want {
			t.Errorf("Ago(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestLabel(t *testing.T) {
	for _, tc := range []struct {
		s    db.Sender
		want string
	}{
		{db.Sender{ID: 1, DisplayName: "Admissions", Address: "+14155550100"}, "Admissions (+14155550100)"},
		{db.Sender{ID: 1, Address: "+14155550100"}, "+14155550100"},
		{db.Sender{ID: 1, DisplayName: "Bulk", MessagingServiceSID: "MG1"}, "Bulk (MG1)"},
		{db.Sender{ID: 1, DisplayName: "+14155550100", Address: "+14155550100"}, "+14155550100"},
		{db.Sender{ID: 7}, "sender #7"},
	} {
		if got := senderpick.Label(tc.s); got != tc.want {
			t.Errorf("Label(%+v) = %q, want %q", tc.s, got, tc.want)
		}
	}
}

// The Picker against PostgreSQL: sticky from real conversations, falling
// back when the sender goes offline, LRU spreading and recording use, and
// Preview recording nothing.
func TestPickerDB(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	adm, err := d.EnsureDepartment(ctx, "admissions", "Admissions")
	if err != nil {
		t.Fatal(err)
	}
	fin, err := d.EnsureDepartment(ctx, "finance", "Finance")
	if err != nil {
		t.Fatal(err)
	}
	mk := func(address, name string, dep int64) db.Sender {
		s, err := d.EnsureSender(ctx, "whatsapp", address, name, &dep)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a1 := mk("+14155550101", "Admissions 1", adm)
	a2 := mk("+14155550102", "Admissions 2", adm)
	f1 := mk("+14155550201", "Finance 1", fin)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := d.Pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	// The parent last spoke with Admissions 2, two days ago, and with Finance long before.
	const parent = "+15550104242"
	for _, c := range []struct {
		s   db.Sender
		ago string
	}{{a2, "2 days"}, {f1, "20 days"}} {
		err := d.InTx(ctx, func(tx pgx.Tx) error {
			contact, err := db.UpsertContactTx(ctx, tx, parent, "")
			if err != nil {
				return err
			}
			id, err := db.UpsertConversationTx(ctx, tx, contact, c.s)
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `UPDATE conversations SET last_message_at = now() - $2::interval WHERE id = $1`, id, c.ago)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	fixed := time.Now()
	p := &senderpick.Picker{DB: d, Now: func() time.Time { return fixed }}
	staff := db.User{ID: 1, Role: "staff", DepartmentIDs: []int64{adm}}
	lastUsed := func(id int64) *time.Time {
		var at *time.Time
		if err := d.Pool.QueryRow(ctx, `SELECT last_used_at FROM senders WHERE id = $1`, id).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	stickyReq := senderpick.Request{Strategy: "sticky", Channel: "whatsapp", ContactPhone: parent, User: staff}

	pre, err := p.Preview(ctx, stickyReq)
	if err != nil {
		t.Fatal(err)
	}
	if pre.Sender.ID != a2.ID || pre.Reason != "sticky: last used with this contact 2 days ago" {
		t.Fatalf("preview = %d %q, want Admissions 2, sticky", pre.Sender.ID, pre.Reason)
	}
	if lastUsed(a2.ID) != nil {
		t.Fatal("Preview recorded a use")
	}
	got, err := p.Pick(ctx, stickyReq)
	if err != nil {
		t.Fatal(err)
	}
	if got.Sender.ID != a2.ID || lastUsed(a2.ID) == nil {
		t.Fatalf("pick = %d, last used %v; want Admissions 2, stamped", got.Sender.ID, lastUsed(a2.ID))
	}

	// An admin sees the Finance conversation too, but Admissions' is more recent.
	adminReq := stickyReq
	adminReq.User = db.User{ID: 2, Role: "admin"}
	if got, err := p.Preview(ctx, adminReq); err != nil || got.Sender.ID != a2.ID {
		t.Fatalf("admin sticky = %d, %v; want Admissions 2", got.Sender.ID, err)
	}
	// Asked for Finance, the admin gets Finance's number.
	adminReq.DepartmentID = fin
	if got, err := p.Preview(ctx, adminReq); err != nil || got.Sender.ID != f1.ID || got.Strategy != "sticky" {
		t.Fatalf("admin sticky in Finance = %d %q, %v; want Finance 1", got.Sender.ID, got.Strategy, err)
	}

	// Admissions 2 goes offline: sticky falls back to the LRU, Admissions 1 (never used).
	exec(`UPDATE senders SET status = 'OFFLINE', offline_reasons = '[{"code":"63100","message":"Display name rejected"}]' WHERE id = $1`, a2.ID)
	got, err = p.Pick(ctx, stickyReq)
	if err != nil {
		t.Fatal(err)
	}
	wantReason := "sticky sender offline: Admissions 2 (+14155550102) is offline at Twilio (Display name rejected (error 63100)); least recently used in Admissions' pool (never used)"
	if got.Sender.ID != a1.ID || got.Strategy != "lru" || got.Reason != wantReason {
		t.Fatalf("fallback = %d %q %q\nwant %d lru %q", got.Sender.ID, got.Strategy, got.Reason, a1.ID, wantReason)
	}
	if !slices.Equal(ids(got.Unavailable), []int64{a2.ID}) {
		t.Errorf("unavailable = %v, want [%d]", ids(got.Unavailable), a2.ID)
	}

	// LRU spreads over the pool: back online, two concurrent picks take both.
	exec(`UPDATE senders SET status = 'ONLINE', last_used_at = NULL`)
	lru := senderpick.Request{Strategy: "lru", Channel: "whatsapp", DepartmentID: adm, User: staff}
	var wg sync.WaitGroup
	picked := make([]int64, 2)
	errs := make([]error, 2)
	for i := range picked {
		wg.Go(func() {
			c, err := p.Pick(ctx, lru)
			picked[i], errs[i] = c.Sender.ID, err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	slices.Sort(picked)
	if !slices.Equal(picked, []int64{a1.ID, a2.ID}) {
		t.Fatalf("concurrent lru picks = %v, want both senders once", picked)
	}
	// A third pick names its previous use.
	got, err = p.Pick(ctx, lru)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.Reason, "least recently used in Admissions' pool (last used ") {
		t.Errorf("reason = %q", got.Reason)
	}

	// All offline: the clear error; a department without SMS senders is named.
	exec(`UPDATE senders SET status = 'OFFLINE', offline_reasons = '[]'`)
	_, err = p.Pick(ctx, lru)
	var ns *senderpick.NoSenderError
	if !errors.As(err, &ns) || !errors.Is(err, senderpick.ErrUnavailable) ||
		ns.Message != "Every WhatsApp sender of Admissions is offline at Twilio (Admissions 1 (+14155550101); Admissions 2 (+14155550102)). Ask an admin to check the senders, or choose another department or channel." {
		t.Fatalf("all offline: %v", err)
	}
	_, err = p.Pick(ctx, senderpick.Request{Strategy: "department", Channel: "sms", User: staff})
	if !errors.Is(err, senderpick.ErrNoneSetUp) || !strings.Contains(err.Error(), "No SMS sender is set up for Admissions.") {
		t.Fatalf("no SMS sender: %v", err)
	}

	// Specific: another department's sender is refused, one's own used.
	exec(`UPDATE senders SET status = 'ONLINE'`)
	if _, err := p.Pick(ctx, senderpick.Request{Strategy: "specific", Channel: "whatsapp", SenderID: f1.ID, User: staff}); !errors.Is(err, senderpick.ErrNotAllowed) {
		t.Fatalf("other department's sender: %v", err)
	}
	if got, err := p.Pick(ctx, senderpick.Request{Strategy: "specific", Channel: "whatsapp", SenderID: a1.ID, User: staff}); err != nil || got.Sender.ID != a1.ID {
		t.Fatalf("own sender: %d, %v", got.Sender.ID, err)
	}
}
