package messaging_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/classline/classline/internal/messaging"
)

// TestComposePicksSenderAndKeepsTheReason: with no sender chosen, a parent
// who wrote to a number gets the answer from it (sticky); the least-recently
// used strategy and the reason are stored on the message; an offline pool
// is refused with why.
func TestComposePicksSenderAndKeepsTheReason(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	e.parentWrites("+15550006001", e.waAdmissions, "Hello")

	_, id, err := e.svc.Compose(ctx, e.staffAdmissions, messaging.ComposeInput{To: "+15550006001", Channel: "whatsapp", Body: "Hi!"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.db.MessageByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if m.From != "whatsapp:+14155550100" || !strings.HasPrefix(m.SenderReason, "sticky") {
		t.Fatalf("sticky compose sent from %s because %q", m.From, m.SenderReason)
	}

	preview, err := e.svc.PreviewSender(ctx, e.staffAdmissions, messaging.ComposeInput{To: "+15550006002", Channel: "sms", Strategy: "lru"})
	if err != nil || preview.Sender.ID != e.smsAdmissions.ID {
		t.Fatalf("preview: %+v, %v", preview, err)
	}
	_, id, err = e.svc.Compose(ctx, e.staffAdmissions, messaging.ComposeInput{To: "+15550006002", Channel: "sms", Body: "Hi", Strategy: "lru"})
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := e.db.MessageByID(ctx, id); m.SenderReason != preview.Reason || !strings.Contains(m.SenderReason, "least recently used") {
		t.Fatalf("lru reason stored %q, previewed %q", m.SenderReason, preview.Reason)
	}

	if _, err := e.db.Pool.Exec(ctx, `UPDATE senders SET status = 'OFFLINE' WHERE id = $1`, e.waAdmissions.ID); err != nil {
		t.Fatal(err)
	}
	before := e.count(`SELECT count(*) FROM messages`)
	_, _, err = e.svc.Compose(ctx, e.staffAdmissions, messaging.ComposeInput{To: "+15550006001", Channel: "whatsapp", Body: "Again"})
	var fe messaging.FieldErrors
	if !errors.As(err, &fe) || !strings.Contains(fe["sender"], "offline") {
		t.Fatalf("compose with the only WhatsApp sender offline: %v", err)
	}
	if after := e.count(`SELECT count(*) FROM messages`); after != before {
		t.Fatalf("%d messages stored by a refused compose", after-before)
	}
}
