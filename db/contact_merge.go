package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
)

// Merging one contact (the other) into another (the survivor). Everything
// that points at the other moves to the survivor in one transaction;
// nothing that is history (messages, notes, consent, audit) is deleted.
// What references contacts or conversations, and what happens to it:
//
//	conversations.contact_id      moved, with the number they used written out;
//	                              folded into the survivor's conversation with
//	                              the same sender and number when there is one
//	messages.conversation_id      follow their conversation (notes are messages)
//	conversation_reads            merged per user (unread stays unread)
//	out_of_hours_replies          follow their conversation (no second reply)
//	conversation_presence         dropped with a folded conversation (ephemeral)
//	group_members.contact_id      moved, duplicates dropped
//	contact_links (both sides)    moved, self-links and duplicates dropped
//	contact_phones                the other's numbers (main one included)
//	                              become the survivor's secondary numbers
//	broadcast_recipients          point at the survivor
//	contacts.merged_into          the other, and contacts merged into it before
//	consent_events, audit_log     by number / subject text: untouched

// ErrMergeSelf: a contact cannot be merged into itself.
var ErrMergeSelf = errors.New("db: a contact cannot be merged into itself")

// MergePlan is what merging Other into Survivor does; the preview shows it
// and the merge returns what it did.
type MergePlan struct {
	Survivor, Other ContactDetail
	// Fills are the survivor's empty fields that take the other's value.
	Fills []FieldFill
	// CustomAdded are custom fields only the other had (or the survivor had
	// empty); CustomConflicts differ and keep the survivor's value.
	CustomAdded     []FieldFill
	CustomConflicts []CustomConflict
	Numbers         []MergeNumber
	Conversations   []MergeConversation
	Messages        int // every message and note of the other's conversations
	Groups          []MergeGroup
	Links           []MergeLink
	// ConsentEvents are the ledger rows of the other's numbers: they stay
	// (the ledger is per number) and show on the survivor's page.
	ConsentEvents int
	// Redirected are contacts merged into the other before, which now point
	// at the survivor.
	Redirected          int
	BroadcastRecipients int
}

// FieldFill is a field and the value it takes.
type FieldFill struct{ Field, Value string }

// CustomConflict is a custom field both contacts have with different values.
type CustomConflict struct{ Key, Kept, Dropped string }

// MergeNumber is one of the other's numbers.
type MergeNumber struct {
	Phone, Label    string
	WhatsAppCapable bool
	WasMain         bool // the other's main number
	// AlreadyListed: the survivor has it already (main or secondary).
	AlreadyListed bool
}

// MergeConversation is one of the other's conversations.
type MergeConversation struct {
	ID           int64
	Channel      string
	DepartmentID int64 // 0: none
	SenderID     int64
	SenderName   string
	Phone        string // the number it talks to
	Messages     int
	// IntoID is the survivor's conversation with the same sender and number
	// that this one is folded into; 0: it moves as it is.
	IntoID int64
}

// MergeGroup is one of the other's (static) groups.
type MergeGroup struct {
	ID            int64
	Name          string
	AlreadyMember bool // the survivor is in it: nothing to add
}

// MergeLink is one of the other's guardian↔student links.
type MergeLink struct {
	ContactLink
	// Drop says why the link does not move: "self" (it links the two
	// contacts being merged) or "duplicate" (the survivor has it); "" moves.
	Drop string
}

// MergePlanTx works out what merging otherID into survivorID would do.
// ErrNotFound when either is missing or already merged; ErrMergeSelf.
func MergePlanTx(ctx context.Context, q Querier, survivorID, otherID int64) (MergePlan, error) {
	var p MergePlan
	if survivorID == otherID {
		return p, ErrMergeSelf
	}
	var err error
	if p.Survivor, err = ContactByIDTx(ctx, q, survivorID); err != nil {
		return p, err
	}
	if p.Other, err = ContactByIDTx(ctx, q, otherID); err != nil {
		return p, err
	}
	s, o := p.Survivor, p.Other
	if s.Name == "" && o.Name != "" {
		p.Fills = append(p.Fills, FieldFill{"name", o.Name})
	}
	if s.Language == "" && o.Language != "" {
		p.Fills = append(p.Fills, FieldFill{"language", o.Language})
	}
	// A WhatsApp preference needs a contact on WhatsApp (the form's rule).
	if s.PreferredChannel == "" && o.PreferredChannel != "" && (o.PreferredChannel != "whatsapp" || s.WhatsAppCapable) {
		p.Fills = append(p.Fills, FieldFill{"preferred_channel", o.PreferredChannel})
	}
	keys := make([]string, 0, len(o.CustomFields))
	for k := range o.CustomFields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ov, sv := o.CustomFields[k], s.CustomFields[k]
		switch {
		case ov == "" || ov == sv:
		case sv == "":
			p.CustomAdded = append(p.CustomAdded, FieldFill{k, ov})
		default:
			p.CustomConflicts = append(p.CustomConflicts, CustomConflict{Key: k, Kept: sv, Dropped: ov})
		}
	}

	rows, err := q.Query(ctx, `
		SELECT n.phone, n.label, n.whatsapp_capable, n.was_main,
		       n.phone = s.phone OR EXISTS (SELECT 1 FROM contact_phones sp WHERE sp.contact_id = s.id AND sp.phone = n.phone)
		  FROM (SELECT o.phone, o.phone_label AS label, o.whatsapp_capable, true AS was_main, o.created_at AS at FROM contacts o WHERE o.id = $2
		        UNION ALL
		        SELECT cp.phone, cp.label, cp.whatsapp_capable, false, cp.created_at FROM contact_phones cp WHERE cp.contact_id = $2) n
		  JOIN contacts s ON s.id = $1
		 ORDER BY n.was_main DESC, n.at, n.phone`, survivorID, otherID)
	if err != nil {
		return p, fmt.Errorf("db: merge plan: numbers: %w", err)
	}
	if p.Numbers, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (MergeNumber, error) {
		var n MergeNumber
		err := r.Scan(&n.Phone, &n.Label, &n.WhatsAppCapable, &n.WasMain, &n.AlreadyListed)
		return n, err
	}); err != nil {
		return p, fmt.Errorf("db: merge plan: numbers: %w", err)
	}

	// The survivor's conversation with the same sender and number, if any:
	// numbers compare written out (NULL is each contact's own main number).
	rows, err = q.Query(ctx, `
		SELECT oc.id, oc.channel, coalesce(oc.department_id, 0), oc.sender_id, coalesce(nullif(sn.display_name, ''), nullif(sn.address, ''), sn.messaging_service_sid),
		       coalesce(oc.phone, o.phone), (SELECT count(*) FROM messages m WHERE m.conversation_id = oc.id),
		       coalesce((SELECT sc.id FROM conversations sc JOIN contacts s ON s.id = sc.contact_id
		                  WHERE sc.contact_id = $1 AND sc.sender_id = oc.sender_id
		                    AND coalesce(sc.phone, s.phone) = coalesce(oc.phone, o.phone)
		                  ORDER BY sc.phone NULLS FIRST, sc.id LIMIT 1), 0)
		  FROM conversations oc
		  JOIN contacts o ON o.id = oc.contact_id
		  JOIN senders sn ON sn.id = oc.sender_id
		 WHERE oc.contact_id = $2
		 ORDER BY oc.last_message_at DESC, oc.id DESC`, survivorID, otherID)
	if err != nil {
		return p, fmt.Errorf("db: merge plan: conversations: %w", err)
	}
	if p.Conversations, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (MergeConversation, error) {
		var c MergeConversation
		err := r.Scan(&c.ID, &c.Channel, &c.DepartmentID, &c.SenderID, &c.SenderName, &c.Phone, &c.Messages, &c.IntoID)
		return c, err
	}); err != nil {
		return p, fmt.Errorf("db: merge plan: conversations: %w", err)
	}
	for _, c := range p.Conversations {
		p.Messages += c.Messages
	}

	rows, err = q.Query(ctx, `
		SELECT g.id, g.name, EXISTS (SELECT 1 FROM group_members sm WHERE sm.group_id = g.id AND sm.contact_id = $1)
		  FROM group_members gm JOIN groups g ON g.id = gm.group_id
		 WHERE gm.contact_id = $2 ORDER BY lower(g.name), g.id`, survivorID, otherID)
	if err != nil {
		return p, fmt.Errorf("db: merge plan: groups: %w", err)
	}
	if p.Groups, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (MergeGroup, error) {
		var g MergeGroup
		err := r.Scan(&g.ID, &g.Name, &g.AlreadyMember)
		return g, err
	}); err != nil {
		return p, fmt.Errorf("db: merge plan: groups: %w", err)
	}

	rows, err = q.Query(ctx, `
		SELECT c.id, c.phone, c.name, c.profile_name, c.role, l.relation, true,
		       CASE WHEN l.student_id = $1 THEN 'self'
		            WHEN EXISTS (SELECT 1 FROM contact_links d WHERE d.guardian_id = $1 AND d.student_id = l.student_id) THEN 'duplicate'
		            ELSE '' END
		  FROM contact_links l JOIN contacts c ON c.id = l.student_id WHERE l.guardian_id = $2
		UNION ALL
		SELECT c.id, c.phone, c.name, c.profile_name, c.role, l.relation, false,
		       CASE WHEN l.guardian_id = $1 THEN 'self'
		            WHEN EXISTS (SELECT 1 FROM contact_links d WHERE d.student_id = $1 AND d.guardian_id = l.guardian_id) THEN 'duplicate'
		            ELSE '' END
		  FROM contact_links l JOIN contacts c ON c.id = l.guardian_id WHERE l.student_id = $2
		ORDER BY 3, 1`, survivorID, otherID)
	if err != nil {
		return p, fmt.Errorf("db: merge plan: links: %w", err)
	}
	if p.Links, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (MergeLink, error) {
		var l MergeLink
		err := r.Scan(&l.Other.ID, &l.Other.Phone, &l.Other.Name, &l.Other.ProfileName, &l.Other.Role, &l.Relation, &l.OtherIsStudent, &l.Drop)
		return l, err
	}); err != nil {
		return p, fmt.Errorf("db: merge plan: links: %w", err)
	}

	err = q.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM consent_events ce WHERE ce.phone = ANY($2)),
		       (SELECT count(*) FROM contacts m WHERE m.merged_into = $1),
		       (SELECT count(*) FROM broadcast_recipients br WHERE br.contact_id = $1)`,
		otherID, p.otherPhones()).Scan(&p.ConsentEvents, &p.Redirected, &p.BroadcastRecipients)
	if err != nil {
		return p, fmt.Errorf("db: merge plan: counts: %w", err)
	}
	return p, nil
}

func (p MergePlan) otherPhones() []string {
	out := make([]string, 0, len(p.Numbers))
	for _, n := range p.Numbers {
		out = append(out, n.Phone)
	}
	return out
}

// MergeContactsTx merges otherID into survivorID inside the caller's
// transaction and returns what it did. Both contacts are locked FOR UPDATE
// in id order first, so concurrent merges of the same contacts (or a merge
// racing a number change) run one after the other, and the second finds
// the other already merged (ErrNotFound).
func MergeContactsTx(ctx context.Context, q Querier, survivorID, otherID int64) (MergePlan, error) {
	if survivorID == otherID {
		return MergePlan{}, ErrMergeSelf
	}
	locked, err := LockContactsTx(ctx, q, survivorID, otherID)
	if err != nil {
		return MergePlan{}, err
	}
	for _, id := range []int64{survivorID, otherID} {
		if c, ok := locked[id]; !ok || c.Merged {
			return MergePlan{}, fmt.Errorf("db: merge contact %d: %w", id, ErrNotFound)
		}
	}
	p, err := MergePlanTx(ctx, q, survivorID, otherID)
	if err != nil {
		return p, err
	}

	// Conversations first, while the other still has its main number: it is
	// what a NULL number of theirs means.
	for _, c := range p.Conversations {
		if c.IntoID != 0 {
			if err := foldConversationTx(ctx, q, c.ID, c.IntoID); err != nil {
				return p, err
			}
			continue
		}
		if _, err := q.Exec(ctx, `UPDATE conversations SET contact_id = $2, phone = nullif($3, (SELECT phone FROM contacts WHERE id = $2))
			WHERE id = $1`, c.ID, survivorID, c.Phone); err != nil {
			return p, fmt.Errorf("db: merge: move conversation %d: %w", c.ID, err)
		}
	}

	// Numbers: the other's main and secondary numbers become the survivor's
	// secondary numbers (bar the survivor's own main number).
	if _, err := q.Exec(ctx, `
		INSERT INTO contact_phones (contact_id, phone, label, whatsapp_capable)
		SELECT $1, n.phone, n.label, n.whatsapp_capable FROM (
			SELECT o.phone, o.phone_label AS label, o.whatsapp_capable FROM contacts o WHERE o.id = $2
			UNION ALL
			SELECT cp.phone, cp.label, cp.whatsapp_capable FROM contact_phones cp WHERE cp.contact_id = $2) n
		WHERE n.phone <> (SELECT phone FROM contacts WHERE id = $1)
		ON CONFLICT (contact_id, phone) DO NOTHING`, survivorID, otherID); err != nil {
		return p, fmt.Errorf("db: merge: numbers: %w", err)
	}
	if _, err := q.Exec(ctx, `DELETE FROM contact_phones WHERE contact_id = $1`, otherID); err != nil {
		return p, fmt.Errorf("db: merge: numbers: %w", err)
	}

	if _, err := q.Exec(ctx, `
		INSERT INTO group_members (group_id, contact_id, added_at)
		SELECT group_id, $1, added_at FROM group_members WHERE contact_id = $2
		ON CONFLICT (group_id, contact_id) DO NOTHING`, survivorID, otherID); err != nil {
		return p, fmt.Errorf("db: merge: groups: %w", err)
	}
	if _, err := q.Exec(ctx, `DELETE FROM group_members WHERE contact_id = $1`, otherID); err != nil {
		return p, fmt.Errorf("db: merge: groups: %w", err)
	}

	// Links: the other's side becomes the survivor; a link between the two
	// would link the survivor to itself and is dropped; a link the survivor
	// already has keeps its relation unless that is empty.
	if _, err := q.Exec(ctx, `
		INSERT INTO contact_links (guardian_id, student_id, relation)
		SELECT CASE WHEN guardian_id = $2 THEN $1 ELSE guardian_id END,
		       CASE WHEN student_id = $2 THEN $1 ELSE student_id END, relation
		  FROM contact_links
		 WHERE (guardian_id = $2 OR student_id = $2)
		   AND NOT (guardian_id IN ($1, $2) AND student_id IN ($1, $2))
		ON CONFLICT (guardian_id, student_id) DO UPDATE
		   SET relation = CASE WHEN contact_links.relation = '' THEN EXCLUDED.relation ELSE contact_links.relation END`,
		survivorID, otherID); err != nil {
		return p, fmt.Errorf("db: merge: links: %w", err)
	}
	if _, err := q.Exec(ctx, `DELETE FROM contact_links WHERE guardian_id = $1 OR student_id = $1`, otherID); err != nil {
		return p, fmt.Errorf("db: merge: links: %w", err)
	}

	if _, err := q.Exec(ctx, `UPDATE broadcast_recipients SET contact_id = $1 WHERE contact_id = $2`, survivorID, otherID); err != nil {
		return p, fmt.Errorf("db: merge: broadcast recipients: %w", err)
	}

	// The survivor's fields: empty ones filled, custom fields united with
	// the survivor's values winning.
	custom, err := mergedCustomFields(ctx, q, survivorID, otherID)
	if err != nil {
		return p, err
	}
	fill := map[string]string{}
	for _, f := range p.Fills {
		fill[f.Field] = f.Value
	}
	if _, err := q.Exec(ctx, `UPDATE contacts SET
		name = CASE WHEN $2::text <> '' THEN $2 ELSE name END,
		language = CASE WHEN $3::text <> '' THEN $3 ELSE language END,
		preferred_channel = coalesce(preferred_channel, nullif($4::text, '')),
		custom_fields = $5, updated_at = now()
		WHERE id = $1`, survivorID, fill["name"], fill["language"], fill["preferred_channel"], custom); err != nil {
		return p, fmt.Errorf("db: merge: survivor fields: %w", err)
	}
	// Old links to contacts merged into the other lead straight to the survivor.
	if _, err := q.Exec(ctx, `UPDATE contacts SET merged_into = $1, updated_at = now() WHERE id = $2 OR merged_into = $2`,
		survivorID, otherID); err != nil {
		return p, fmt.Errorf("db: merge: mark merged: %w", err)
	}
	return p, nil
}

// mergedCustomFields is the survivor's custom fields over the other's, as
// stored (numbers from an import stay numbers); an empty value gives way.
func mergedCustomFields(ctx context.Context, q Querier, survivorID, otherID int64) ([]byte, error) {
	var sRaw, oRaw []byte
	if err := q.QueryRow(ctx, `SELECT (SELECT custom_fields FROM contacts WHERE id = $1), (SELECT custom_fields FROM contacts WHERE id = $2)`,
		survivorID, otherID).Scan(&sRaw, &oRaw); err != nil {
		return nil, fmt.Errorf("db: merge: custom fields: %w", err)
	}
	var sm, om map[string]any
	if err := json.Unmarshal(sRaw, &sm); err != nil {
		return nil, fmt.Errorf("db: merge: survivor custom fields: %w", err)
	}
	if err := json.Unmarshal(oRaw, &om); err != nil {
		return nil, fmt.Errorf("db: merge: other custom fields: %w", err)
	}
	out := map[string]any{}
	for k, v := range om {
		if !emptyCustom(v) {
			out[k] = v
		}
	}
	for k, v := range sm {
		if !emptyCustom(v) || out[k] == nil {
			out[k] = v
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("db: merge: custom fields: %w", err)
	}
	return b, nil
}

func emptyCustom(v any) bool { return v == nil || v == "" }

// foldConversationTx moves every message of conversation from into into
// (the survivor's conversation with the same sender and number), carries
// over its state and read marks, and deletes the emptied conversation.
func foldConversationTx(ctx context.Context, q Querier, from, into int64) error {
	type state struct {
		lastInbound, waiting *time.Time
	}
	var f, t state
	if err := q.QueryRow(ctx, `SELECT f.last_inbound_at, f.waiting_since, t.last_inbound_at, t.waiting_since
		FROM conversations f, conversations t WHERE f.id = $1 AND t.id = $2 FOR UPDATE`, from, into).
		Scan(&f.lastInbound, &f.waiting, &t.lastInbound, &t.waiting); err != nil {
		return fmt.Errorf("db: merge: fold conversation %d into %d: %w", from, into, err)
	}
	if err := mergeReadsTx(ctx, q, from, into, f.lastInbound, t.lastInbound); err != nil {
		return err
	}
	// The busier state wins: open over snoozed over closed; the survivor's
	// assignee over the other's.
	if _, err := q.Exec(ctx, `UPDATE conversations t SET
		last_message_at = greatest(t.last_message_at, f.last_message_at),
		last_inbound_at = greatest(t.last_inbound_at, f.last_inbound_at),
		status = CASE WHEN 'open' IN (t.status, f.status) THEN 'open' WHEN t.status = 'snoozed' THEN 'snoozed' ELSE f.status END,
		snoozed_until = CASE WHEN 'open' IN (t.status, f.status) THEN NULL WHEN t.status = 'snoozed' THEN t.snoozed_until
		                     WHEN f.status = 'snoozed' THEN f.snoozed_until END,
		assignee_id = coalesce(t.assignee_id, f.assignee_id),
		-- the broadcast a reply answers: the one of the more recent thread
		last_broadcast_id = CASE WHEN f.last_message_at > t.last_message_at
		                         THEN coalesce(f.last_broadcast_id, t.last_broadcast_id)
		                         ELSE coalesce(t.last_broadcast_id, f.last_broadcast_id) END,
		created_at = least(t.created_at, f.created_at)
		FROM conversations f WHERE t.id = $2 AND f.id = $1`, from, into); err != nil {
		return fmt.Errorf("db: merge: fold conversation %d: state: %w", from, err)
	}
	if _, err := q.Exec(ctx, `UPDATE messages SET conversation_id = $2 WHERE conversation_id = $1`, from, into); err != nil {
		return fmt.Errorf("db: merge: fold conversation %d: messages: %w", from, err)
	}
	// A claimed out-of-hours reply stays claimed: no second reply.
	if _, err := q.Exec(ctx, `INSERT INTO out_of_hours_replies (conversation_id, period_ends, message_id, created_at)
		SELECT $2, period_ends, message_id, created_at FROM out_of_hours_replies WHERE conversation_id = $1
		ON CONFLICT (conversation_id, period_ends) DO NOTHING`, from, into); err != nil {
		return fmt.Errorf("db: merge: fold conversation %d: out-of-hours replies: %w", from, err)
	}
	// Waiting: if either was waiting, the merged thread waits since its
	// first inbound message after the last staff answer (if any is left).
	if f.waiting != nil || t.waiting != nil {
		if _, err := q.Exec(ctx, `UPDATE conversations c SET waiting_since = (
			SELECT min(m.created_at) FROM messages m
			 WHERE m.conversation_id = c.id AND m.direction = 'inbound'
			   AND m.created_at > coalesce((SELECT max(a.created_at) FROM messages a
			        WHERE a.conversation_id = c.id AND a.direction = 'outbound' AND a.sent_by IS NOT NULL AND NOT a.is_note), '-infinity'))
			WHERE c.id = $1`, into); err != nil {
			return fmt.Errorf("db: merge: fold conversation %d: waiting: %w", from, err)
		}
	}
	if _, err := q.Exec(ctx, `DELETE FROM conversations WHERE id = $1`, from); err != nil {
		return fmt.Errorf("db: merge: fold conversation %d: delete the emptied one: %w", from, err)
	}
	return nil
}

// mergeReadsTx gives each user one read mark on the folded conversation:
// if either conversation was unread for them, it stays unread (no mark);
// otherwise the later of their marks.
func mergeReadsTx(ctx context.Context, q Querier, from, into int64, fromInbound, intoInbound *time.Time) error {
	rows, err := q.Query(ctx, `SELECT conversation_id, user_id, read_at FROM conversation_reads WHERE conversation_id IN ($1, $2)`, from, into)
	if err != nil {
		return fmt.Errorf("db: merge: read marks: %w", err)
	}
	type marks struct{ from, into *time.Time }
	byUser := map[int64]*marks{}
	var users []int64
	for rows.Next() {
		var conv, user int64
		var at time.Time
		if err := rows.Scan(&conv, &user, &at); err != nil {
			rows.Close()
			return fmt.Errorf("db: merge: read marks: %w", err)
		}
		m := byUser[user]
		if m == nil {
			m = &marks{}
			byUser[user] = m
			users = append(users, user)
		}
		if conv == from {
			m.from = &at
		} else {
			m.into = &at
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("db: merge: read marks: %w", err)
	}
	unread := func(inbound, read *time.Time) bool {
		return inbound != nil && (read == nil || inbound.After(*read))
	}
	for _, u := range users {
		m := byUser[u]
		if _, err := q.Exec(ctx, `DELETE FROM conversation_reads WHERE conversation_id IN ($1, $2) AND user_id = $3`, from, into, u); err != nil {
			return fmt.Errorf("db: merge: read marks: %w", err)
		}
		if unread(fromInbound, m.from) || unread(intoInbound, m.into) {
			continue
		}
		at := m.from
		if at == nil || (m.into != nil && m.into.After(*at)) {
			at = m.into
		}
		if _, err := q.Exec(ctx, `INSERT INTO conversation_reads (conversation_id, user_id, read_at) VALUES ($1, $2, $3)`, into, u, *at); err != nil {
			return fmt.Errorf("db: merge: read marks: %w", err)
		}
	}
	return nil
}
