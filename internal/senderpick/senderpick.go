// Package senderpick chooses the sender a message goes out from and says why,
// in words staff see before sending and that are stored with the message.
//
// Strategies:
//   - specific: the sender the user chose (Request.SenderID).
//   - department: the department's sender of the channel, which is its
//     sendable sender with the lowest id (the first one set up); a department
//     that wants another default archives or reorders nothing, it picks
//     "specific" instead.
//   - lru: the sendable sender of the department's pool, of the channel, that
//     was used longest ago (never used first, ties by lowest id). Picker.Pick
//     picks and stamps atomically in the database, so concurrent sends
//     (broadcasts) spread over the pool.
//   - sticky: the sender of the contact's most recent conversation on the
//     channel, so a parent keeps seeing one number; when that sender cannot be
//     used, lru in the department (the request's, else the sticky sender's,
//     else the user's only one), with the reason saying why.
//   - messaging_service: the department's sender that is a Twilio Messaging
//     Service (messaging_service_sid set), lowest id; Twilio picks the number.
//
// Never picked: archived senders, senders outside the user's departments
// (admins see all), senders of another channel, and senders whose Twilio
// status cannot send (anything but ONLINE and ONLINE:UPDATING; see
// db.SendableStatuses). Those of the pool are listed in Choice.Unavailable
// with why. When nothing can be picked the error is a *NoSenderError whose
// Message is a sentence for staff.
//
// The core, Pick, is pure (no database, no clock); Picker loads what it needs.
// Department strategies with Request.DepartmentID 0 use the user's only
// department, or fail asking to choose one.
package senderpick

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/classline/classline/db"
)

// Strategies.
const (
	StrategySpecific         = "specific"
	StrategyDepartment       = "department"
	StrategyLRU              = "lru"
	StrategySticky           = "sticky"
	StrategyMessagingService = "messaging_service"
)

// Strategies lists every strategy, for forms and validation.
var Strategies = []string{StrategySpecific, StrategyDepartment, StrategyLRU, StrategySticky, StrategyMessagingService}

// Request is what to pick a sender for.
type Request struct {
	Strategy     string
	Channel      string // "whatsapp" or "sms"
	DepartmentID int64  // 0: the user's only department (sticky: any of the user's)
	// DepartmentName names DepartmentID in messages when no candidate carries
	// it (a department without senders); Picker fills it.
	DepartmentName string
	SenderID       int64  // specific
	ContactPhone   string // sticky, E.164
	User           db.User
}

// Unavailable is a sender that could not be picked, and why ("offline at
// Twilio (…)", "archived", ...), a phrase that follows "<sender> is".
type Unavailable struct {
	Sender db.Sender
	Why    string
	// Default: it is its department's default sender on its channel.
	Default bool
}

func (u Unavailable) String() string { return Label(u.Sender) + " is " + u.Why }

// Choice is the picked sender and why.
type Choice struct {
	// Strategy is the one that picked: sticky falls back to lru.
	Strategy string
	Sender   db.Sender
	// Reason is for staff: "sticky: last used with this contact 3 days ago".
	Reason string
	// Unavailable are senders of the pool that could not be picked.
	Unavailable []Unavailable

	prefix string // what precedes the lru reason after a sticky fallback
}

// Sticky is the contact's most recent conversation's sender.
type Sticky = db.StickyInfo

// Causes of a NoSenderError, for errors.Is.
var (
	// ErrInvalid: the request cannot be answered (unknown strategy or
	// channel, no department chosen, no such sender, wrong channel).
	ErrInvalid = errors.New("senderpick: invalid request")
	// ErrNotAllowed: the sender or department is not one of the user's.
	ErrNotAllowed = errors.New("senderpick: not one of your departments")
	// ErrNoneSetUp: the department has no sender of that kind.
	ErrNoneSetUp = errors.New("senderpick: no sender set up")
	// ErrUnavailable: senders exist but none can send now.
	ErrUnavailable = errors.New("senderpick: no sender can send now")
)

// NoSenderError means no sender could be picked; Message says why to staff.
type NoSenderError struct {
	Message string
	// Field is the form field it concerns: "sender", "department" or "channel".
	Field string
	Cause error
	// Unavailable are the senders considered that could not send.
	Unavailable []Unavailable
}

func (e *NoSenderError) Error() string { return e.Message }
func (e *NoSenderError) Unwrap() error { return e.Cause }

func noSender(cause error, field, msg string, un []Unavailable) *NoSenderError {
	return &NoSenderError{Message: msg, Field: field, Cause: cause, Unavailable: un}
}

// Pick chooses a sender among candidates for req, at now. lastContact is the
// contact's most recent conversation on the channel (sticky; nil: none).
// Candidates may hold any senders: Pick applies every rule itself.
func Pick(req Request, candidates []db.PoolSender, lastContact *Sticky, now time.Time) (Choice, error) {
	if err := validate(req); err != nil {
		return Choice{}, err
	}
	c := newCands(candidates, req.DepartmentID, req.DepartmentName)
	switch req.Strategy {
	case StrategySpecific:
		return pickSpecific(req, c)
	case StrategySticky:
		return pickSticky(req, c, lastContact, now)
	}
	dep, err := resolveDepartment(req, 0)
	if err != nil {
		return Choice{}, err
	}
	switch req.Strategy {
	case StrategyDepartment:
		return pickDepartment(req, c, dep)
	case StrategyMessagingService:
		return pickMessagingService(req, c, dep)
	default:
		return pickLRU(req, c, dep, now)
	}
}

func validate(req Request) error {
	if !slices.Contains(Strategies, req.Strategy) {
		return noSender(ErrInvalid, "sender", "Choose how to pick the sender.", nil)
	}
	if req.Channel != "whatsapp" && req.Channel != "sms" {
		return noSender(ErrInvalid, "channel", "Choose WhatsApp or SMS.", nil)
	}
	if req.Strategy == StrategySpecific && req.SenderID == 0 {
		return noSender(ErrInvalid, "sender", "Choose a sender.", nil)
	}
	return nil
}

// cands indexes the candidates by id and knows department names.
type cands struct {
	list  []db.PoolSender // by id, one each
	names map[int64]string
}

func newCands(in []db.PoolSender, reqDep int64, reqName string) cands {
	c := cands{names: map[int64]string{}}
	seen := map[int64]bool{}
	for _, s := range in {
		if seen[s.ID] {
			continue
		}
		seen[s.ID] = true
		c.list = append(c.list, s)
		if s.DepartmentID != nil && s.DepartmentName != "" {
			c.names[*s.DepartmentID] = s.DepartmentName
		}
	}
	slices.SortFunc(c.list, func(a, b db.PoolSender) int { return compareInt(a.ID, b.ID) })
	if reqDep != 0 && reqName != "" {
		c.names[reqDep] = reqName
	}
	return c
}

func (c cands) byID(id int64) (db.PoolSender, bool) {
	for _, s := range c.list {
		if s.ID == id {
			return s, true
		}
	}
	return db.PoolSender{}, false
}

func (c cands) name(dep int64) string {
	if n := c.names[dep]; n != "" {
		return n
	}
	return "this department"
}

// pool splits the unarchived senders of the channel in the department into
// sendable ones and the rest, by id.
func (c cands) pool(channel string, dep int64, keep func(db.PoolSender) bool) (ok []db.PoolSender, un []Unavailable) {
	for _, s := range c.list {
		if s.Archived || s.Channel != channel || s.DepartmentID == nil || *s.DepartmentID != dep {
			continue
		}
		if keep != nil && !keep(s) {
			continue
		}
		if why := unavailableWhy(s); why != "" {
			un = append(un, Unavailable{Sender: s.Sender, Why: why, Default: s.Default})
		} else {
			ok = append(ok, s)
		}
	}
	return ok, un
}

// resolveDepartment is the department a department strategy works in:
// the request's, else fallback, else the user's only one.
func resolveDepartment(req Request, fallback int64) (int64, error) {
	u := req.User
	dep := req.DepartmentID
	if dep == 0 {
		dep = fallback
	}
	if dep == 0 && !u.IsAdmin() && len(u.DepartmentIDs) == 1 {
		dep = u.DepartmentIDs[0]
	}
	switch {
	case dep != 0 && !canSee(u, &dep):
		return 0, noSender(ErrNotAllowed, "department", "You can only send from your own departments' senders.", nil)
	case dep != 0:
		return dep, nil
	case !u.IsAdmin() && len(u.DepartmentIDs) == 0:
		return 0, noSender(ErrNotAllowed, "department",
			"You are not in any department yet, so there is no sender you may use. Ask an admin to add you to one.", nil)
	default:
		return 0, noSender(ErrInvalid, "department", "Choose which department to send from.", nil)
	}
}

func canSee(u db.User, dep *int64) bool {
	if u.IsAdmin() {
		return true
	}
	return dep != nil && slices.Contains(u.DepartmentIDs, *dep)
}

func pickSpecific(req Request, c cands) (Choice, error) {
	s, found := c.byID(req.SenderID)
	switch {
	case !found:
		return Choice{}, noSender(ErrInvalid, "sender", "That sender does not exist any more. Choose another sender.", nil)
	case !canSee(req.User, s.DepartmentID):
		return Choice{}, noSender(ErrNotAllowed, "sender", "Choose one of your departments' senders.", nil)
	case s.Archived:
		un := []Unavailable{{Sender: s.Sender, Why: "archived"}}
		return Choice{}, noSender(ErrUnavailable, "sender", Label(s.Sender)+" is archived and no longer sends. Choose another sender.", un)
	case s.Channel != req.Channel:
		return Choice{}, noSender(ErrInvalid, "sender",
			fmt.Sprintf("%s sends %s, not %s. Choose another sender.", Label(s.Sender), ChannelName(s.Channel), ChannelName(req.Channel)), nil)
	}
	if why := unavailableWhy(s); why != "" {
		un := []Unavailable{{Sender: s.Sender, Why: why}}
		return Choice{}, noSender(ErrUnavailable, "sender", Label(s.Sender)+" is "+why+", so it cannot send now. Choose another sender.", un)
	}
	return Choice{Strategy: StrategySpecific, Sender: s.Sender, Reason: "chosen by you"}, nil
}

func pickDepartment(req Request, c cands, dep int64) (Choice, error) {
	ok, un := c.pool(req.Channel, dep, nil)
	if len(ok) == 0 {
		return Choice{}, poolError(req.Channel, "sender", c.name(dep), un, "department")
	}
	reason := possessive(c.name(dep)) + " " + ChannelName(req.Channel) + " sender"
	// The default sender when it can send; else the first one set up, saying
	// why the default (or any sender set up before it) was passed over.
	s := ok[0]
	if i := slices.IndexFunc(ok, func(p db.PoolSender) bool { return p.Default }); i >= 0 {
		s = ok[i]
		reason = possessive(c.name(dep)) + " default " + ChannelName(req.Channel) + " sender"
		return Choice{Strategy: StrategyDepartment, Sender: s.Sender, Reason: reason, Unavailable: un}, nil
	}
	var before []string
	for _, u := range un {
		if u.Sender.ID < s.ID || u.Default {
			before = append(before, u.String())
		}
	}
	if len(before) > 0 {
		reason += " (" + strings.Join(before, "; ") + ")"
	}
	return Choice{Strategy: StrategyDepartment, Sender: s.Sender, Reason: reason, Unavailable: un}, nil
}

func pickMessagingService(req Request, c cands, dep int64) (Choice, error) {
	ok, un := c.pool(req.Channel, dep, func(s db.PoolSender) bool { return s.MessagingServiceSID != "" })
	if len(ok) == 0 {
		return Choice{}, poolError(req.Channel, "Messaging Service", c.name(dep), un, "sender")
	}
	s := ok[0]
	reason := fmt.Sprintf("%s Messaging Service %s (Twilio picks the number)", possessive(c.name(dep)), s.MessagingServiceSID)
	return Choice{Strategy: StrategyMessagingService, Sender: s.Sender, Reason: reason, Unavailable: un}, nil
}

func pickLRU(req Request, c cands, dep int64, now time.Time) (Choice, error) {
	ok, un := c.pool(req.Channel, dep, nil)
	if len(ok) == 0 {
		return Choice{}, poolError(req.Channel, "sender", c.name(dep), un, "department")
	}
	s := slices.MinFunc(ok, lessRecentlyUsed)
	return Choice{Strategy: StrategyLRU, Sender: s.Sender, Reason: lruReason(c.name(dep), s.LastUsedAt, now), Unavailable: un}, nil
}

// lessRecentlyUsed orders never used first, then oldest use, then lowest id,
// as db.PickLRU does.
func lessRecentlyUsed(a, b db.PoolSender) int {
	switch {
	case a.LastUsedAt == nil && b.LastUsedAt != nil:
		return -1
	case a.LastUsedAt != nil && b.LastUsedAt == nil:
		return 1
	case a.LastUsedAt != nil && !a.LastUsedAt.Equal(*b.LastUsedAt):
		return a.LastUsedAt.Compare(*b.LastUsedAt)
	}
	return compareInt(a.ID, b.ID)
}

func lruReason(depName string, lastUsed *time.Time, now time.Time) string {
	last := "never used"
	if lastUsed != nil {
		last = "last used " + Ago(now.Sub(*lastUsed))
	}
	return "least recently used in " + possessive(depName) + " pool (" + last + ")"
}

func pickSticky(req Request, c cands, last *Sticky, now time.Time) (Choice, error) {
	var why string
	var stickyUn []Unavailable
	var fallbackDep int64
	s, found := db.PoolSender{}, false
	if last != nil {
		s, found = c.byID(last.SenderID)
	}
	visible := found && canSee(req.User, s.DepartmentID)
	switch {
	case last == nil:
		why = "no earlier " + ChannelName(req.Channel) + " conversation with this contact"
	case !found:
		why = "the number the contact last spoke with is no longer available"
	case !visible:
		why = "the contact last spoke with another department's number"
	case req.DepartmentID != 0 && (s.DepartmentID == nil || *s.DepartmentID != req.DepartmentID):
		why = "the contact last spoke with another department's number"
	case s.Channel != req.Channel:
		why = "no earlier " + ChannelName(req.Channel) + " conversation with this contact"
	case s.Archived:
		why = "sticky sender archived: " + Label(s.Sender) + " no longer sends"
		stickyUn = []Unavailable{{Sender: s.Sender, Why: "archived"}}
	default:
		if w := unavailableWhy(s); w != "" {
			word := "unavailable"
			if s.Status == "OFFLINE" {
				word = "offline"
			}
			why = "sticky sender " + word + ": " + Label(s.Sender) + " is " + w
			stickyUn = []Unavailable{{Sender: s.Sender, Why: w}}
		} else {
			return Choice{Strategy: StrategySticky, Sender: s.Sender,
				Reason: "sticky: last used with this contact " + Ago(now.Sub(last.LastAt))}, nil
		}
	}
	if visible && s.DepartmentID != nil && s.Channel == req.Channel {
		fallbackDep = *s.DepartmentID
	}
	dep, err := resolveDepartment(req, fallbackDep)
	if err != nil {
		return Choice{}, err
	}
	ch, err := pickLRU(req, c, dep, now)
	if err != nil {
		var ns *NoSenderError
		if errors.As(err, &ns) {
			ns.Unavailable = mergeUnavailable(stickyUn, ns.Unavailable)
		}
		return Choice{}, err
	}
	ch.prefix = why + "; "
	ch.Reason = ch.prefix + ch.Reason
	ch.Unavailable = mergeUnavailable(stickyUn, ch.Unavailable)
	return ch, nil
}

func mergeUnavailable(a, b []Unavailable) []Unavailable {
	out := slices.Clone(a)
	for _, u := range b {
		if !slices.ContainsFunc(out, func(x Unavailable) bool { return x.Sender.ID == u.Sender.ID }) {
			out = append(out, u)
		}
	}
	return out
}

// poolError explains an empty pool: none set up, or none can send. noun
// names the pool's members: "sender", "Messaging Service".
func poolError(channel, noun, depName string, un []Unavailable, field string) error {
	if len(un) == 0 {
		return noSender(ErrNoneSetUp, "channel", fmt.Sprintf("No %s %s is set up for %s. Ask an admin to add one.",
			ChannelName(channel), noun, depName), nil)
	}
	what := ChannelName(channel) + " " + noun + " of " + depName
	allOffline := !slices.ContainsFunc(un, func(u Unavailable) bool { return u.Sender.Status != "OFFLINE" })
	var msg string
	switch {
	case len(un) == 1:
		msg = fmt.Sprintf("The only %s, %s, is %s, so nothing can be sent from it now.", what, Label(un[0].Sender), un[0].Why)
	case allOffline:
		var parts []string
		for _, u := range un {
			p := Label(u.Sender)
			if r := offlineReasons(u.Why); r != "" {
				p += ": " + r
			}
			parts = append(parts, p)
		}
		msg = fmt.Sprintf("Every %s is offline at Twilio (%s).", what, strings.Join(parts, "; "))
	default:
		var parts []string
		for _, u := range un {
			parts = append(parts, u.String())
		}
		msg = fmt.Sprintf("No %s can send now: %s.", what, strings.Join(parts, "; "))
	}
	return noSender(ErrUnavailable, field, msg+" Ask an admin to check the senders, or choose another department or channel.", un)
}

const offlineWhy = "offline at Twilio"

// offlineReasons is the "(…)" part of an offline Why, unwrapped.
func offlineReasons(why string) string {
	r := strings.TrimPrefix(why, offlineWhy)
	r = strings.TrimSpace(r)
	r = strings.TrimPrefix(r, "(")
	return strings.TrimSuffix(r, ")")
}

// unavailableWhy says why a sender cannot send ("" when it can), as a phrase
// that follows "<sender> is".
func unavailableWhy(s db.PoolSender) string {
	if s.Archived {
		return "archived"
	}
	if db.SenderSendable(s.Status) {
		return ""
	}
	switch s.Status {
	case "OFFLINE":
		if len(s.OfflineReasons) > 0 {
			return offlineWhy + " (" + strings.Join(s.OfflineReasons, "; ") + ")"
		}
		return offlineWhy
	case "CREATING":
		return "still being created at Twilio"
	case "PENDING_VERIFICATION":
		return "waiting for its number to be verified at Twilio"
	case "VERIFYING":
		return "being verified by Twilio"
	case "TWILIO_REVIEW":
		return "under review by Twilio"
	case "DRAFT":
		return "only a draft at Twilio, not registered yet"
	case "STUBBED":
		return "not registered at Twilio yet"
	case "":
		return "not synced with Twilio yet"
	default:
		return fmt.Sprintf("in status %q at Twilio, which cannot send", s.Status)
	}
}

// Label names a sender for staff: "Admissions main (+14155550100)".
func Label(s db.Sender) string {
	id := s.Address
	if id == "" {
		id = s.MessagingServiceSID
	}
	switch {
	case s.DisplayName != "" && id != "" && s.DisplayName != id:
		return s.DisplayName + " (" + id + ")"
	case s.DisplayName != "":
		return s.DisplayName
	case id != "":
		return id
	}
	return fmt.Sprintf("sender #%d", s.ID)
}

// ChannelName is the channel as staff read it.
func ChannelName(c string) string {
	switch c {
	case "whatsapp":
		return "WhatsApp"
	case "sms":
		return "SMS"
	}
	return c
}

// possessive: "Admissions'", "Finance's".
func possessive(name string) string {
	if strings.HasSuffix(name, "s") {
		return name + "'"
	}
	return name + "'s"
}

// Ago says how long ago, roughly: "just now", "5 min ago", "2 h ago",
// "1 day ago", "3 days ago".
func Ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	case d < 48*time.Hour:
		return "1 day ago"
	}
	return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Picker picks with the database: it loads the candidates, runs Pick, and
// for Pick (not Preview) records the use.
type Picker struct {
	DB  *db.DB
	Now func() time.Time // time.Now when nil
}

func (p *Picker) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Preview says which sender Pick would choose now and why, without
// recording anything: for the composer, before sending. An lru preview may
// differ from the later Pick when other sends happen in between.
func (p *Picker) Preview(ctx context.Context, req Request) (Choice, error) {
	return p.choose(ctx, req)
}

// Pick chooses the sender to send from now and stamps it used. lru picks
// atomically in the database (db.PickLRU), so concurrent picks spread over the
// pool; other strategies stamp the chosen sender, so the pool's LRU order
// reflects every send. Call it right before sending.
func (p *Picker) Pick(ctx context.Context, req Request) (Choice, error) {
	ch, err := p.choose(ctx, req)
	if err != nil {
		return ch, err
	}
	if ch.Strategy != StrategyLRU || ch.Sender.DepartmentID == nil {
		if err := p.DB.TouchSenderUsed(ctx, ch.Sender.ID); err != nil {
			return Choice{}, err
		}
		return ch, nil
	}
	dep := *ch.Sender.DepartmentID
	s, err := p.DB.PickLRU(ctx, req.Channel, dep)
	if errors.Is(err, db.ErrNotFound) {
		// Every sender went offline between loading and picking.
		return Choice{}, noSender(ErrUnavailable, "department", fmt.Sprintf("No %s sender of %s can send right now. Try again in a moment.",
			ChannelName(req.Channel), nameOr(ch.Sender.DepartmentName)), ch.Unavailable)
	}
	if err != nil {
		return Choice{}, err
	}
	ch.Sender = s.Sender
	ch.Reason = ch.prefix + lruReason(nameOr(s.DepartmentName), s.LastUsedAt, p.now())
	ch.Unavailable = slices.DeleteFunc(ch.Unavailable, func(u Unavailable) bool { return u.Sender.ID == s.ID })
	return ch, nil
}

func nameOr(name string) string {
	if name == "" {
		return "this department"
	}
	return name
}

// choose loads what the request needs and runs the pure Pick.
func (p *Picker) choose(ctx context.Context, req Request) (Choice, error) {
	if err := validate(req); err != nil {
		return Choice{}, err
	}
	var scope []int64 // nil: every department (admins)
	switch {
	case req.DepartmentID != 0:
		scope = []int64{req.DepartmentID}
	case !req.User.IsAdmin():
		scope = append([]int64{}, req.User.DepartmentIDs...)
	}
	var cands []db.PoolSender
	var last *Sticky
	add := func(id int64) error {
		if slices.ContainsFunc(cands, func(s db.PoolSender) bool { return s.ID == id }) {
			return nil
		}
		s, err := p.DB.PoolSenderByID(ctx, id)
		if errors.Is(err, db.ErrNotFound) {
			return nil
		}
		if err == nil {
			cands = append(cands, s)
		}
		return err
	}
	var err error
	if req.Strategy == StrategySpecific {
		err = add(req.SenderID)
	} else {
		if cands, err = p.DB.PickCandidates(ctx, req.Channel, scope); err != nil {
			return Choice{}, err
		}
		if req.Strategy == StrategySticky && req.ContactPhone != "" {
			if last, err = p.DB.StickySender(ctx, req.ContactPhone, req.Channel, scope); err == nil && last != nil {
				err = add(last.SenderID)
			}
		}
	}
	if err != nil {
		return Choice{}, err
	}
	if err := p.fillDepartmentName(ctx, &req, cands); err != nil {
		return Choice{}, err
	}
	return Pick(req, cands, last, p.now())
}

// fillDepartmentName names the request's department when no candidate does,
// so "No SMS sender is set up for Finance" can name it.
func (p *Picker) fillDepartmentName(ctx context.Context, req *Request, cands []db.PoolSender) error {
	dep := req.DepartmentID
	if dep == 0 && !req.User.IsAdmin() && len(req.User.DepartmentIDs) == 1 {
		dep = req.User.DepartmentIDs[0]
	}
	if dep == 0 || req.DepartmentName != "" || !canSee(req.User, &dep) ||
		slices.ContainsFunc(cands, func(s db.PoolSender) bool { return s.DepartmentID != nil && *s.DepartmentID == dep }) {
		return nil
	}
	deps, err := p.DB.DepartmentsByID(ctx, []int64{dep})
	if err != nil {
		return err
	}
	if len(deps) > 0 {
		req.DepartmentName = deps[0].Name
		req.DepartmentID = dep
	}
	return nil
}
