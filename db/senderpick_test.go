package db_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/db/dbtest"
)

type pickFixture struct {
	d        *db.DB
	ctx      context.Context
	adm, fin int64
}

func newPickFixture(t *testing.T) pickFixture {
	t.Helper()
	f := pickFixture{d: dbtest.New(t), ctx: context.Background()}
	var err error
	if f.adm, err = f.d.EnsureDepartment(f.ctx, "admissions", "Admissions"); err != nil {
		t.Fatal(err)
	}
	if f.fin, err = f.d.EnsureDepartment(f.ctx, "finance", "Finance"); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f pickFixture) sender(t *testing.T, channel, address string, dep int64, set string) db.Sender {
	t.Helper()
	s, err := f.d.EnsureSender(f.ctx, channel, address, address, &dep)
	if err != nil {
		t.Fatal(err)
	}
	if set != "" {
		if _, err := f.d.Pool.Exec(f.ctx, `UPDATE senders SET `+set+` WHERE id = $1`, s.ID); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// Six concurrent picks over a pool of three sendable senders use each exactly
// twice; offline, unready, archived senders and other pools are never picked.
func TestPickLRUConcurrent(t *testing.T) {
	f := newPickFixture(t)
	var pool []int64
	for _, a := range []string{"+14155550101", "+14155550102", "+14155550103"} {
		pool = append(pool, f.sender(t, "whatsapp", a, f.adm, "").ID)
	}
	// Never used, so first in line if they could send.
	offline := f.sender(t, "whatsapp", "+14155550104", f.adm, `status = 'OFFLINE'`)
	creating := f.sender(t, "whatsapp", "+14155550105", f.adm, `status = 'CREATING'`)
	archived := f.sender(t, "whatsapp", "+14155550106", f.adm, `archived_at = now()`)
	f.sender(t, "sms", "+14155550107", f.adm, "")
	f.sender(t, "whatsapp", "+14155550201", f.fin, "")
	// One pool sender is ONLINE:UPDATING, which can send.
	if _, err := f.d.Pool.Exec(f.ctx, `UPDATE senders SET status = 'ONLINE:UPDATING' WHERE id = $1`, pool[2]); err != nil {
		t.Fatal(err)
	}

	const n = 6
	got := make([]db.PoolSender, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			got[i], errs[i] = f.d.PickLRU(f.ctx, "whatsapp", f.adm)
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	count := map[int64]int{}
	for _, s := range got {
		count[s.ID]++
		if s.Channel != "whatsapp" || s.DepartmentID == nil || *s.DepartmentID != f.adm || s.DepartmentName != "Admissions" {
			t.Errorf("picked %+v outside the pool", s)
		}
	}
	for _, id := range pool {
		if count[id] != 2 {
			t.Errorf("sender %d picked %d times, want 2 (counts %v)", id, count[id], count)
		}
	}
	for _, id := range []int64{offline.ID, creating.ID, archived.ID} {
		if count[id] != 0 {
			t.Errorf("unusable sender %d picked %d times", id, count[id])
		}
	}
	// Each sender's first pick saw it never used; its second, the first's stamp.
	never := map[int64]int{}
	for _, s := range got {
		if s.LastUsedAt == nil {
			never[s.ID]++
		}
	}
	for _, id := range pool {
		if never[id] != 1 {
			t.Errorf("sender %d: %d picks reported never used, want 1", id, never[id])
		}
	}

	// The next pick is the sender stamped longest ago.
	var oldest int64
	if err := f.d.Pool.QueryRow(f.ctx, `SELECT id FROM senders WHERE id = ANY($1) ORDER BY last_used_at, id LIMIT 1`, pool).Scan(&oldest); err != nil {
		t.Fatal(err)
	}
	next, err := f.d.PickLRU(f.ctx, "whatsapp", f.adm)
	if err != nil {
		t.Fatal(err)
	}
	if next.ID != oldest || next.LastUsedAt == nil {
		t.Errorf("next pick = %d (last used %v), want %d with its last use", next.ID, next.LastUsedAt, oldest)
	}
}

func TestPickLRUNoneSendable(t *testing.T) {
	f := newPickFixture(t)
	f.sender(t, "whatsapp", "+14155550101", f.adm, `status = 'OFFLINE'`)
	f.sender(t, "whatsapp", "+14155550102", f.adm, `archived_at = now()`)
	if _, err := f.d.PickLRU(f.ctx, "whatsapp", f.adm); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if _, err := f.d.PickLRU(f.ctx, "whatsapp", f.fin); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("empty pool: err = %v, want ErrNotFound", err)
	}
}

func TestPickCandidates(t *testing.T) {
	f := newPickFixture(t)
	a1 := f.sender(t, "whatsapp", "+14155550101", f.adm, `last_used_at = '2025-01-02T03:04:05Z'`)
	a2 := f.sender(t, "whatsapp", "+14155550102", f.adm,
		`status = 'OFFLINE', offline_reasons = '[{"code":"63100","message":"Display name rejected","more_info":"https://x"}, "plain words", {"code":"1"}, {}]'`)
	f.sender(t, "whatsapp", "+14155550103", f.adm, `archived_at = now()`)
	sms := f.sender(t, "sms", "+14155550104", f.adm, "")
	fin := f.sender(t, "whatsapp", "+14155550201", f.fin, "")

	idsOf := func(ps []db.PoolSender) []int64 {
		out := []int64{}
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		channel string
		deps    []int64
		want    []int64
	}{
		{"whatsapp, all departments", "whatsapp", nil, []int64{a1.ID, a2.ID, fin.ID}},
		{"whatsapp, Admissions", "whatsapp", []int64{f.adm}, []int64{a1.ID, a2.ID}},
		{"any channel, Admissions", "", []int64{f.adm}, []int64{a1.ID, a2.ID, sms.ID}},
		{"sms, Finance", "sms", []int64{f.fin}, []int64{}},
		{"no departments", "whatsapp", []int64{}, []int64{}},
	} {
		got, err := f.d.PickCandidates(f.ctx, tc.channel, tc.deps)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(idsOf(got), tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, idsOf(got), tc.want)
		}
	}

	got, err := f.d.PickCandidates(f.ctx, "whatsapp", []int64{f.adm})
	if err != nil {
		t.Fatal(err)
	}
	if p := got[0]; p.LastUsedAt == nil || !p.LastUsedAt.Equal(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)) ||
		p.Status != "ONLINE" || p.DepartmentName != "Admissions" || p.Address != "+14155550101" || p.Archived {
		t.Errorf("a1 = %+v", p)
	}
	wantReasons := []string{"Display name rejected (error 63100)", "plain words", "error 1"}
	if p := got[1]; p.Status != "OFFLINE" || p.LastUsedAt != nil || !slices.Equal(p.OfflineReasons, wantReasons) {
		t.Errorf("a2 = %+v, reasons %q", p, p.OfflineReasons)
	}

	// By id, archived ones too.
	arch, err := f.d.PoolSenderByID(f.ctx, a2.ID+1)
	if err != nil || !arch.Archived {
		t.Fatalf("archived by id = %+v, %v", arch, err)
	}
	if _, err := f.d.PoolSenderByID(f.ctx, 999999); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
}

func TestStickySenderAndTouch(t *testing.T) {
	f := newPickFixture(t)
	a1 := f.sender(t, "whatsapp", "+14155550101", f.adm, "")
	a2 := f.sender(t, "whatsapp", "+14155550102", f.adm, "")
	aSMS := f.sender(t, "sms", "+14155550103", f.adm, "")
	fin := f.sender(t, "whatsapp", "+14155550201", f.fin, "")
	const parent = "+15550104242"
	convs := map[int64]int64{}
	at := map[int64]time.Time{}
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, s := range []db.Sender{a1, a2, aSMS, fin} {
		// a1 oldest; then a2; then the SMS; Finance most recent.
		err := f.d.InTx(f.ctx, func(tx pgx.Tx) error {
			contact, err := db.UpsertContactTx(f.ctx, tx, parent, "")
			if err != nil {
				return err
			}
			id, err := db.UpsertConversationTx(f.ctx, tx, contact, s)
			if err != nil {
				return err
			}
			convs[s.ID] = id
			at[s.ID] = base.Add(time.Duration(i) * time.Hour)
			_, err = tx.Exec(f.ctx, `UPDATE conversations SET last_message_at = $2 WHERE id = $1`, id, at[s.ID])
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check := func(name, phone, channel string, deps []int64, want int64) {
		t.Helper()
		got, err := f.d.StickySender(f.ctx, phone, channel, deps)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case want == 0 && got != nil:
			t.Errorf("%s: %+v, want none", name, got)
		case want != 0 && (got == nil || got.SenderID != want || !got.LastAt.Equal(at[want])):
			t.Errorf("%s: %+v, want sender %d at %v", name, got, want, at[want])
		}
	}
	check("any department", parent, "whatsapp", nil, fin.ID)
	check("Admissions only", parent, "whatsapp", []int64{f.adm}, a2.ID)
	check("sms", parent, "sms", nil, aSMS.ID)
	check("no departments", parent, "whatsapp", []int64{}, 0)
	check("unknown contact", "+15550109999", "whatsapp", nil, 0)

	// A new message on a1 makes it the sticky one; archiving it skips it.
	if _, err := f.d.Pool.Exec(f.ctx, `UPDATE conversations SET last_message_at = $2 WHERE id = $1`, convs[a1.ID], base.Add(time.Hour/2)); err != nil {
		t.Fatal(err)
	}
	at[a1.ID] = base.Add(time.Hour / 2)
	check("order is by last message", parent, "whatsapp", []int64{f.adm}, a2.ID)
	if _, err := f.d.Pool.Exec(f.ctx, `UPDATE conversations SET last_message_at = $2 WHERE id = $1`, convs[a1.ID], base.Add(10*time.Hour)); err != nil {
		t.Fatal(err)
	}
	at[a1.ID] = base.Add(10 * time.Hour)
	check("newest conversation wins", parent, "whatsapp", []int64{f.adm}, a1.ID)
	if _, err := f.d.Pool.Exec(f.ctx, `UPDATE senders SET archived_at = now() WHERE id = $1`, a1.ID); err != nil {
		t.Fatal(err)
	}
	check("archived sender skipped", parent, "whatsapp", []int64{f.adm}, a2.ID)

	// TouchSenderUsed stamps last_used_at.
	before := time.Now().Add(-time.Minute)
	if err := f.d.TouchSenderUsed(f.ctx, a2.ID); err != nil {
		t.Fatal(err)
	}
	p, err := f.d.PoolSenderByID(f.ctx, a2.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p.LastUsedAt == nil || p.LastUsedAt.Before(before) {
		t.Errorf("last used = %v after touch", p.LastUsedAt)
	}
}
