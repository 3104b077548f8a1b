package contacts

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/live"
	"github.com/classline/classline/internal/policy"
)

// Merging duplicates: two contacts that are one person (the same number
// typed twice, an import that missed a secondary number) become one. The
// survivor keeps its details; everything of the other moves to it in one
// transaction; no message, note, consent record or audit entry is deleted.

// DuplicatesPageSize is how many shared numbers the duplicates page shows.
const DuplicatesPageSize = 50

// DuplicatesPage is one page of numbers shared by several contacts.
type DuplicatesPage struct {
	Groups []db.DuplicateGroup
	Next   string // the number to continue after; "" on the last page
}

// Duplicates lists numbers that several unmerged contacts have.
func (s *Service) Duplicates(ctx context.Context, after string) (DuplicatesPage, error) {
	groups, err := s.DB.DuplicateGroups(ctx, after, DuplicatesPageSize+1)
	if err != nil {
		return DuplicatesPage{}, err
	}
	p := DuplicatesPage{Groups: groups}
	if len(groups) > DuplicatesPageSize {
		p.Groups = groups[:DuplicatesPageSize]
		p.Next = p.Groups[DuplicatesPageSize-1].Phone
	}
	return p, nil
}

// MergePick is the "Merge another contact into this one" form: the other
// contact by a number they have, or by contact number ("#42" or "42").
type MergePick struct {
	Query string
}

// FindMergeCandidate resolves the form to the contact to merge into
// survivorID, or FieldErrors{"merge_with": ...}.
func (s *Service) FindMergeCandidate(ctx context.Context, survivorID int64, in MergePick) (int64, error) {
	q := strings.TrimSpace(in.Query)
	fail := func(msg string) (int64, error) { return 0, FieldErrors{"merge_with": msg} }
	if q == "" {
		return fail("Type the other contact's phone number, or their contact number such as #42.")
	}
	// "#42" is a contact number; so is a short run of digits, which is
	// never a whole phone number.
	if idText := strings.TrimPrefix(q, "#"); idText != q || (len(idText) < 7 && digits(idText) == idText) {
		id, err := strconv.ParseInt(idText, 10, 64)
		if err != nil || id <= 0 {
			return fail("A contact number is a whole number, such as #42.")
		}
		if id == survivorID {
			return fail("That is this contact.")
		}
		if _, err := s.DB.ContactByID(ctx, id); errors.Is(err, db.ErrNotFound) {
			if into, merr := s.DB.MergedInto(ctx, id); merr == nil {
				if into == survivorID {
					return fail(fmt.Sprintf("Contact #%d was already merged into this one.", id))
				}
				return fail(fmt.Sprintf("Contact #%d was merged into contact #%d already.", id, into))
			}
			return fail(fmt.Sprintf("There is no contact #%d.", id))
		} else if err != nil {
			return 0, err
		}
		return id, nil
	}
	phone, err := policy.NormalizePhone(q, s.Region)
	if err != nil {
		return fail(err.Error())
	}
	all, err := s.DB.ContactsWithPhone(ctx, phone)
	if err != nil {
		return 0, err
	}
	var others []db.SharedPhone
	for _, c := range all {
		if c.Contact.ID != survivorID {
			others = append(others, c)
		}
	}
	switch len(others) {
	case 0:
		if len(all) > 0 {
			return fail("Only this contact has that number.")
		}
		return fail("No contact has this number.")
	case 1:
		return others[0].Contact.ID, nil
	}
	ids := make([]string, len(others))
	for i, c := range others {
		ids[i] = "#" + strconv.FormatInt(c.Contact.ID, 10)
	}
	return fail("Several contacts have this number (" + strings.Join(ids, ", ") + "): type the contact number of the one to merge.")
}

// MergePreview says what merging otherID into survivorID would do.
func (s *Service) MergePreview(ctx context.Context, survivorID, otherID int64) (db.MergePlan, error) {
	return db.MergePlanTx(ctx, s.DB.Pool, survivorID, otherID)
}

// Merge merges otherID into survivorID in one transaction, audited on both
// contacts with what each looked like before and what moved, and tells
// open inboxes about the conversations that changed hands.
func (s *Service) Merge(ctx context.Context, actor db.User, survivorID, otherID int64, ip string) (db.MergePlan, error) {
	var plan db.MergePlan
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		if plan, err = db.MergeContactsTx(ctx, tx, survivorID, otherID); err != nil {
			return err
		}
		after, err := db.ContactByIDTx(ctx, tx, survivorID)
		if err != nil {
			return err
		}
		afterNumbers, err := db.ContactNumbersTx(ctx, tx, survivorID)
		if err != nil {
			return err
		}
		before := map[string]any{
			"survivor": mergeSnapshot(plan.Survivor.ContactRow),
			"other":    mergeSnapshot(plan.Other.ContactRow),
		}
		moved := mergeSummary(plan)
		moved["survivor"] = mergeSnapshot(after.ContactRow)
		moved["survivor"].(map[string]any)["numbers"] = afterNumbers
		actorID := actor.ID
		if err := db.AuditTx(ctx, tx, &actorID, "contact.merge", idSubject("contact", survivorID), before, moved, ip); err != nil {
			return err
		}
		if err := db.AuditTx(ctx, tx, &actorID, "contact.merged_into", idSubject("contact", otherID),
			mergeSnapshot(plan.Other.ContactRow), map[string]any{"merged_into": survivorID}, ip); err != nil {
			return err
		}
		for _, c := range plan.Conversations {
			id := c.ID
			if c.IntoID != 0 {
				id = c.IntoID
			}
			if err := live.Publish(ctx, tx, live.Event{Type: live.ConversationUpdated, ConversationID: id, DepartmentID: c.DepartmentID}); err != nil {
				return err
			}
		}
		return nil
	})
	return plan, err
}

func mergeSnapshot(r db.ContactRow) map[string]any {
	m := snapshot(r)
	m["id"] = r.ID
	m["phone"] = r.Phone
	m["other_phones"] = r.OtherPhones
	m["groups"] = r.Groups
	return m
}

// mergeSummary is what moved, for the audit log.
func mergeSummary(p db.MergePlan) map[string]any {
	var moved, folded []map[string]any
	for _, c := range p.Conversations {
		if c.IntoID != 0 {
			folded = append(folded, map[string]any{"id": c.ID, "into": c.IntoID, "messages": c.Messages, "phone": c.Phone})
		} else {
			moved = append(moved, map[string]any{"id": c.ID, "messages": c.Messages, "phone": c.Phone})
		}
	}
	var groups []int64
	for _, g := range p.Groups {
		groups = append(groups, g.ID)
	}
	var links []map[string]any
	for _, l := range p.Links {
		links = append(links, map[string]any{"contact_id": l.Other.ID, "relation": l.Relation, "dropped": l.Drop})
	}
	var numbers []string
	for _, n := range p.Numbers {
		numbers = append(numbers, n.Phone)
	}
	return map[string]any{
		"other_id":             p.Other.ID,
		"conversations_moved":  moved,
		"conversations_folded": folded,
		"messages":             p.Messages,
		"numbers":              numbers,
		"groups":               groups,
		"links":                links,
		"filled":               p.Fills,
		"custom_added":         p.CustomAdded,
		"custom_conflicts":     p.CustomConflicts,
		"consent_events":       p.ConsentEvents,
		"redirected_contacts":  p.Redirected,
		"broadcast_recipients": p.BroadcastRecipients,
	}
}
