package main

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/broadcast"
	"github.com/classline/classline/internal/policy"
	"github.com/classline/classline/internal/twiliosim"
)

// A broadcast sent by the running app reaches the parent through the same
// status path as the inbox, and the parent's reply lands in the inbox as a
// normal conversation marked with the broadcast.
func TestBroadcastReplyLandsInInboxMarked(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	ctx := t.Context()
	admin := ta.loginAdmin()
	adm := ta.departmentID("admissions")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Not at night in the school's zone, whatever the clock says.
	must(ta.db.InTx(ctx, func(tx pgx.Tx) error {
		return db.SetQuietHoursTx(ctx, tx, policy.QuietHours{Enabled: false, Start: "21:00", End: "07:00"})
	}))
	var contactID int64
	must(ta.db.Pool.QueryRow(ctx, `INSERT INTO contacts (phone, name, whatsapp_capable) VALUES ('+15550020005', 'Maria Lopez', false) RETURNING id`).Scan(&contactID))
	spec := broadcast.Spec{Audience: broadcast.Audience{ContactIDs: []int64{contactID}},
		Content: broadcast.Content{Mode: broadcast.ModeSMS, SMSBody: "Snow day: school is closed tomorrow, {{first_name}}."}}
	a, c, s, err := spec.Encode()
	must(err)
	var id int64
	must(ta.db.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		id, err = db.InsertBroadcastTx(ctx, tx, db.NewBroadcast{Name: "Snow day", DepartmentID: &adm, Audience: a, Content: c, Sender: s})
		return err
	}))
	must(ta.engine.Launch(ctx, id, nil, broadcast.Actor{}))
	deadline := time.Now().Add(30 * time.Second)
	for {
		var status string
		// No row until the broadcast is prepared.
		_ = ta.db.Pool.QueryRow(ctx, `SELECT coalesce(m.status, '') FROM broadcast_recipients r LEFT JOIN messages m ON m.id = r.message_id WHERE r.broadcast_id = $1`, id).Scan(&status)
		if status == "delivered" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("broadcast message is %q after 30 s, want delivered through the status callbacks", status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := ta.simBodiesTo("+15550020005"); len(got) != 1 || got[0] != "Snow day: school is closed tomorrow, Maria." {
		t.Fatalf("simulator got %q", got)
	}
	// Sent, but not in the open inbox: the conversation waits closed.
	inbox, _ := ta.get(admin, "/inbox")
	if strings.Contains(inbox, "Maria Lopez") {
		t.Fatal("a broadcast alone put the conversation in the open inbox")
	}
	_, status, err := ta.sim.Inbound(context.Background(), twiliosim.InboundMessage{From: "+15550020005", To: "+14155550199", Body: "Thanks! Is the bus running?"})
	if err != nil || status != http.StatusOK {
		t.Fatalf("parent reply: %d %v", status, err)
	}
	var convID int64
	for deadline = time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		err := ta.db.Pool.QueryRow(ctx, `SELECT id FROM conversations WHERE contact_id = $1 AND status = 'open' AND last_broadcast_id = $2`, contactID, id).Scan(&convID)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the reply did not reopen the broadcast's conversation")
		}
	}
	inbox, _ = ta.get(admin, "/inbox")
	if !strings.Contains(inbox, "Maria Lopez") || !strings.Contains(inbox, "↩ Snow day") {
		t.Fatal("the inbox does not show the reply marked with the broadcast")
	}
	page, _ := ta.get(admin, "/conversations/"+itoa64(convID))
	if !strings.Contains(page, "Broadcast · <a href=\"/broadcasts/"+itoa64(id)+"\">Snow day</a>") || !strings.Contains(page, "Thanks! Is the bus running?") {
		t.Fatal("the conversation does not show the broadcast message marked, then the reply")
	}
	if strings.Contains(page, "Automatic reply") {
		t.Error("a broadcast message is labelled as an automatic reply")
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
