package broadcast

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/policy"
	"github.com/classline/classline/internal/templates"
)

// Skip reasons of the engine's own (consent reasons are policy's Skip* codes).
// Stored on recipients: never change a value.
const (
	SkipInvalidNumber   = "invalid_number"
	SkipDuplicateNumber = "duplicate_number"
	SkipNoWhatsApp      = "whatsapp_only"
	SkipNoSMSText       = "no_sms_text"
	SkipNoSender        = "no_sender"
	SkipMissingVariable = "missing_variable"
)

// SkipText says why a recipient was skipped, in words for staff.
func SkipText(code string) string {
	switch code {
	case SkipInvalidNumber:
		return "Not a phone number Classline can send to."
	case SkipDuplicateNumber:
		return "The same number is already in this broadcast."
	case SkipNoWhatsApp:
		return "The message is WhatsApp-only and this contact has no WhatsApp."
	case SkipNoSMSText:
		return "This contact gets SMS, and the broadcast has no SMS text."
	case SkipNoSender:
		return "No sender of this channel can send for the department."
	case SkipMissingVariable:
		return "A template variable has no value for this contact and no fixed text."
	}
	return policy.SkipReasonText(code)
}

// PrepareArgs turns a broadcast's audience into recipient rows and their send jobs.
type PrepareArgs struct {
	BroadcastID int64 `json:"broadcast_id"`
}

// Kind names the job in River.
func (PrepareArgs) Kind() string { return "broadcast_prepare" }

// InsertOpts puts the job on the control queue, once per broadcast.
func (PrepareArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueControl, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

type prepareWorker struct {
	river.WorkerDefaults[PrepareArgs]
	e *Engine
}

func (w *prepareWorker) Work(ctx context.Context, job *river.Job[PrepareArgs]) error {
	return w.e.prepare(ctx, job.Args.BroadcastID)
}

// member is one person of the audience, before the channel rule.
type member struct {
	contactID *int64
	phone     string // E.164, or the text typed when invalid
	valid     bool
	name      string
	profile   string
	language  string
	whatsapp  bool
	preferred string
	custom    map[string]string
}

// Plan is the outcome of preparing an audience: the rows to write.
type Plan struct {
	Recipients []db.NewRecipient
}

// prepare writes the recipients and their jobs and starts the broadcast, in
// one transaction: a crash leaves either nothing (the job runs again) or
// everything.
func (e *Engine) prepare(ctx context.Context, broadcastID int64) error {
	b, err := e.DB.BroadcastByID(ctx, broadcastID)
	if err != nil || (b.Status != "preparing" && b.Status != "scheduled") {
		return err
	}
	plan, err := e.Plan(ctx, b)
	if err != nil {
		return err
	}
	err = e.DB.InTx(ctx, func(tx pgx.Tx) error {
		locked, err := db.LockBroadcastTx(ctx, tx, broadcastID)
		if err != nil || (locked.Status != "preparing" && locked.Status != "scheduled") {
			return err
		}
		if _, err := db.InsertRecipientsTx(ctx, tx, broadcastID, plan.Recipients); err != nil {
			return err
		}
		if err := e.enqueuePendingTx(ctx, tx, broadcastID); err != nil {
			return err
		}
		_, err = db.SetBroadcastStatusTx(ctx, tx, broadcastID, db.BroadcastStatusChange{From: []string{"preparing", "scheduled"}, To: "running", Started: true})
		return err
	})
	if err != nil {
		return fmt.Errorf("prepare broadcast %d: %w", broadcastID, err)
	}
	e.markDirty(broadcastID)
	return nil
}

// enqueuePendingTx inserts a send job for every pending recipient.
func (e *Engine) enqueuePendingTx(ctx context.Context, tx pgx.Tx, broadcastID int64) error {
	ids, err := db.PendingRecipientIDsTx(ctx, tx, broadcastID)
	if err != nil || len(ids) == 0 {
		return err
	}
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: SendArgs{RecipientID: id}}
	}
	if _, err := e.river.InsertManyFastTx(ctx, tx, params); err != nil {
		return fmt.Errorf("enqueue %d sends: %w", len(ids), err)
	}
	return nil
}

// Plan works out every recipient of a broadcast: who, on which channel, from
// which sender, with what text, or skipped and why. The review step shows it;
// preparation writes it.
func (e *Engine) Plan(ctx context.Context, b db.Broadcast) (Plan, error) {
	spec, err := DecodeSpec(b.Audience, b.Content, b.Sender)
	if err != nil {
		return Plan{}, err
	}
	members, err := e.members(ctx, spec.Audience)
	if err != nil {
		return Plan{}, err
	}
	phones := make([]string, 0, len(members))
	for _, m := range members {
		if m.valid {
			phones = append(phones, m.phone)
		}
	}
	consent, err := e.DB.ConsentStates(ctx, phones)
	if err != nil {
		return Plan{}, err
	}
	school := ""
	if e.SchoolName != nil {
		if school, err = e.SchoolName(ctx); err != nil {
			return Plan{}, err
		}
	}
	content, err := e.loadContent(ctx, spec.Content)
	if err != nil {
		return Plan{}, err
	}
	senders, err := e.resolveSenders(ctx, b, spec.Sender)
	if err != nil {
		return Plan{}, err
	}
	var plan Plan
	seen := map[string]bool{}
	next := map[string]int{}
	for _, m := range members {
		r := db.NewRecipient{ContactID: m.contactID, Phone: m.phone, Channel: policy.ChannelSMS}
		skip := func(code string) { r.State, r.SkipReason = "skipped", code }
		switch {
		case !m.valid:
			skip(SkipInvalidNumber)
		case seen[m.phone]:
			skip(SkipDuplicateNumber)
		default:
			seen[m.phone] = true
			if ok, why := policy.ConsentAllows(b.Purpose, consent[m.phone]); !ok {
				skip(why)
				break
			}
			ch, why := chooseChannel(spec.Content, content, m)
			if why != "" {
				skip(why)
				break
			}
			r.Channel = ch
			pool := senders[ch]
			if len(pool) == 0 {
				skip(SkipNoSender)
				break
			}
			s := pool[next[ch]%len(pool)]
			next[ch]++
			r.SenderID = &s.ID
			values := templates.ContactValues(m.name, m.profile, m.custom, school)
			if ch == policy.ChannelWhatsApp {
				t := content.variant(m.language)
				vars, ok := templateVars(t, spec.Content, values)
				if !ok {
					skip(SkipMissingVariable)
					break
				}
				r.Variables, r.TemplateID = vars, t.ID
				r.Body = templates.Render(templates.FromTypes(t.Types).Body, vars)
				r.Segments = 1
			} else {
				r.Body = RenderMerge(spec.Content.SMSBody, values)
				r.Segments = policy.CountSegments(r.Body).Count
			}
		}
		if r.State == "skipped" && r.SkipReason == SkipDuplicateNumber {
			r.SenderID = nil
		}
		plan.Recipients = append(plan.Recipients, r)
	}
	return plan, nil
}

// chooseChannel applies the channel rule: WhatsApp when the content has a
// template and the contact has WhatsApp (and does not prefer SMS), else SMS
// when there is SMS text and the mode allows it.
func chooseChannel(c Content, lc loadedContent, m member) (string, string) {
	waOK := len(lc.variants) > 0 && m.whatsapp && m.preferred != policy.ChannelSMS
	smsOK := strings.TrimSpace(c.SMSBody) != ""
	switch c.Mode {
	case ModeWhatsApp:
		if !waOK {
			return "", SkipNoWhatsApp
		}
		return policy.ChannelWhatsApp, ""
	case ModeSMS:
		if !smsOK {
			return "", SkipNoSMSText
		}
		return policy.ChannelSMS, ""
	}
	if waOK {
		return policy.ChannelWhatsApp, ""
	}
	if smsOK {
		return policy.ChannelSMS, ""
	}
	if len(lc.variants) > 0 {
		return "", SkipNoWhatsApp
	}
	return "", SkipNoSMSText
}

var mergeField = regexp.MustCompile(`\{\{\s*([a-z_]+)\s*\}\}`)

// MergeFields are the fields an SMS text may use.
var MergeFields = []string{"first_name", "full_name", "student_name", "class", "school_name"}

// RenderMerge fills {{first_name}}-style fields; unknown ones stay as typed
// (the wizard refuses them before this point).
func RenderMerge(text string, values map[string]string) string {
	return mergeField.ReplaceAllStringFunc(text, func(m string) string {
		k := mergeField.FindStringSubmatch(m)[1]
		if v, ok := values[k]; ok {
			return v
		}
		return m
	})
}

// UnknownMergeFields lists fields in text that RenderMerge cannot fill.
func UnknownMergeFields(text string) []string {
	var out []string
	for _, m := range mergeField.FindAllStringSubmatch(text, -1) {
		known := false
		for _, f := range MergeFields {
			known = known || f == m[1]
		}
		if !known {
			out = append(out, m[1])
		}
	}
	return out
}

type loadedContent struct {
	variants       []db.Template // approved variants of the template, any language
	schoolLanguage string
	chosen         db.Template
}

// variant is the template in the contact's language, else the chosen one.
func (lc loadedContent) variant(language string) db.Template {
	if language != "" {
		if t, ok := templates.Variant(lc.variants, language, "", true); ok && strings.EqualFold(baseLang(t.Language), baseLang(language)) {
			return t
		}
	}
	return lc.chosen
}

func baseLang(code string) string {
	if i := strings.IndexAny(code, "-_"); i > 0 {
		return code[:i]
	}
	return code
}

func (e *Engine) loadContent(ctx context.Context, c Content) (loadedContent, error) {
	var lc loadedContent
	if c.TemplateID == 0 {
		return lc, nil
	}
	t, err := e.DB.TemplateByID(ctx, c.TemplateID)
	if errors.Is(err, db.ErrNotFound) {
		return lc, nil
	}
	if err != nil {
		return lc, err
	}
	if t.ApprovalStatus != templates.StatusApproved || t.ContentSID == "" {
		return lc, fmt.Errorf("template %q is %s, not approved by WhatsApp", t.FriendlyName, t.ApprovalStatus)
	}
	lc.chosen = t
	lc.variants = []db.Template{t}
	if t.LogicalName != "" {
		vs, err := e.DB.TemplateVariants(ctx, t.LogicalName)
		if err != nil {
			return lc, err
		}
		lc.variants = lc.variants[:0]
		for _, v := range vs {
			if v.ApprovalStatus == templates.StatusApproved && v.ContentSID != "" {
				lc.variants = append(lc.variants, v)
			}
		}
		if len(lc.variants) == 0 {
			lc.variants = []db.Template{t}
		}
	}
	return lc, nil
}

// templateVars fills a template's variables for one contact: the mapped
// contact field, else the fixed text; WhatsApp refuses an empty variable.
func templateVars(t db.Template, c Content, values map[string]string) (map[string]string, bool) {
	nums, _ := templates.Variables(templates.FromTypes(t.Types).Body)
	out := make(map[string]string, len(nums))
	for _, n := range nums {
		k := strconv.Itoa(n)
		v := ""
		if f := c.VariableFields[k]; f != "" {
			v = strings.TrimSpace(values[f])
		}
		if v == "" {
			v = strings.TrimSpace(c.VariableValues[k])
		}
		if v == "" {
			return nil, false
		}
		out[k] = v
	}
	return out, true
}

// resolveSenders lists, per channel, the senders recipients are spread over.
func (e *Engine) resolveSenders(ctx context.Context, b db.Broadcast, s Sender) (map[string][]db.Sender, error) {
	out := map[string][]db.Sender{}
	var deps []int64
	if b.DepartmentID != nil {
		deps = []int64{*b.DepartmentID}
	}
	for _, ch := range []string{policy.ChannelWhatsApp, policy.ChannelSMS} {
		specific := s.SMSSenderID
		if ch == policy.ChannelWhatsApp {
			specific = s.WhatsAppSenderID
		}
		cands, err := e.DB.PickCandidates(ctx, ch, deps)
		if err != nil {
			return nil, err
		}
		var usable []db.PoolSender
		for _, c := range cands {
			if db.SenderSendable(c.Status) && !c.Archived {
				usable = append(usable, c)
			}
		}
		switch {
		case s.Strategy == "specific" || specific != 0:
			for _, c := range usable {
				if c.ID == specific {
					out[ch] = []db.Sender{c.Sender}
				}
			}
		case s.Strategy == "pool":
			for _, c := range usable {
				out[ch] = append(out[ch], c.Sender)
			}
		default: // department: its default, else the first set up
			for _, c := range usable {
				if c.Default {
					out[ch] = []db.Sender{c.Sender}
				}
			}
			if len(out[ch]) == 0 && len(usable) > 0 {
				out[ch] = []db.Sender{usable[0].Sender}
			}
		}
	}
	return out, nil
}

// members lists the audience: groups (smart ones computed now), contacts and
// typed numbers, in that order, each number parsed in the school's region.
func (e *Engine) members(ctx context.Context, a Audience) ([]member, error) {
	var out []member
	add := func(r db.ContactRow) error {
		id := r.ID
		out = append(out, member{contactID: &id, phone: r.Phone, valid: true, name: r.Name, profile: r.ProfileName,
			language: r.Language, whatsapp: r.WhatsAppCapable, preferred: r.PreferredChannel, custom: r.CustomFields})
		return nil
	}
	for _, gid := range a.GroupIDs {
		g, err := e.DB.GroupByID(ctx, gid)
		if errors.Is(err, db.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := e.DB.EachContact(ctx, db.ContactFilter{Group: &g}, add); err != nil {
			return nil, err
		}
	}
	if len(a.ContactIDs) > 0 {
		rows, err := e.DB.ContactRowsByID(ctx, a.ContactIDs)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			_ = add(r)
		}
	}
	for _, en := range a.Entries {
		phone, err := policy.NormalizePhone(en.Phone, e.DefaultRegion)
		if err != nil {
			out = append(out, member{phone: strings.TrimSpace(en.Phone), name: en.Name})
			continue
		}
		c, err := e.DB.ContactByPhone(ctx, phone)
		switch {
		case err == nil:
			_ = add(c.ContactRow)
		case errors.Is(err, db.ErrNotFound):
			out = append(out, member{phone: phone, valid: true, name: en.Name, whatsapp: true})
		default:
			return nil, err
		}
	}
	return out, nil
}
