package db_test

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/db/dbtest"
)

// Search finds conversations by contact name, by number typed in any shape
// and by message text, newest first, and never outside the departments given.
func TestSearchConversations(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	admissions, err := d.EnsureDepartment(ctx, "admissions", "Admissions")
	if err != nil {
		t.Fatal(err)
	}
	finance, err := d.EnsureDepartment(ctx, "finance", "Finance")
	if err != nil {
		t.Fatal(err)
	}
	waA, err := d.EnsureSender(ctx, "whatsapp", "+14155550100", "Admissions", &admissions)
	if err != nil {
		t.Fatal(err)
	}
	waF, err := d.EnsureSender(ctx, "whatsapp", "+14155550102", "Finance", &finance)
	if err != nil {
		t.Fatal(err)
	}
	conv := func(phone, profile string, sender db.Sender, sid, body string) int64 {
		var id int64
		err := d.InTx(ctx, func(tx pgx.Tx) error {
			contact, err := db.UpsertContactTx(ctx, tx, phone, profile)
			if err != nil {
				return err
			}
			if id, err = db.UpsertConversationTx(ctx, tx, contact, sender); err != nil {
				return err
			}
			_, _, err = db.InsertInboundTx(ctx, tx, db.NewInbound{ConversationID: id, Channel: "whatsapp", From: "whatsapp:" + phone, To: "whatsapp:" + sender.Address, Body: body, TwilioSID: sid})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	priya := conv("+15550104242", "Priya Patel", waA, "SM1", "Is the uniform shop open on Saturday?")
	tom := conv("+15550109999", "Tom Baker", waA, "SM2", "Homework for class 7B please")
	fees := conv("+15550107777", "Ana Ruiz", waF, "SM3", "Question about the uniform fees")

	ids := func(cs []db.Conversation) []int64 {
		out := []int64{}
		for _, c := range cs {
			out = append(out, c.ID)
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		name        string
		departments []int64
		q           string
		want        []int64
	}{
		{"name, any case", nil, "priya", []int64{priya}},
		{"number as typed", nil, "(555) 010-9999", []int64{tom}},
		{"number fragment", nil, "0107777", []int64{fees}},
		{"message word", nil, "uniform", []int64{priya, fees}},
		{"message word, one department", []int64{admissions}, "uniform", []int64{priya}},
		{"phrase", nil, `"uniform shop"`, []int64{priya}},
		{"no hit", nil, "zebra", []int64{}},
		{"another department only", []int64{finance}, "priya", []int64{}},
		{"no departments at all", []int64{}, "uniform", []int64{}},
		{"LIKE wildcards are literal", nil, "%", []int64{}},
	} {
		got, err := d.SearchConversations(ctx, tc.departments, tc.q, 50)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if g := ids(got); !slices.Equal(g, tc.want) {
			t.Errorf("%s: search %q found %v, want %v", tc.name, tc.q, g, tc.want)
		}
	}
}
