package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
)

// seedOptions sizes a generated dataset.
type seedOptions struct {
	Conversations int
	Messages      int
	Departments   int    // 1..len(seedDepartments)
	Seed          uint64 // same seed, same data (times are relative to Now)
	Force         bool   // seed even when the database already holds messages
	Now           time.Time
}

// seedCmd is `classline seed`: fill a database with a realistic inbox for
// load tests and benchmarks.
func seedCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	o := seedOptions{}
	fs.IntVar(&o.Conversations, "conversations", 50000, "conversations to create")
	fs.IntVar(&o.Messages, "messages", 1000000, "messages to create (at least one per conversation)")
	fs.IntVar(&o.Departments, "departments", 3, fmt.Sprintf("departments, each with a WhatsApp sender (1-%d)", len(seedDepartments)))
	seed := fs.Uint64("seed", 1, "random seed: the same seed gives the same data")
	fs.BoolVar(&o.Force, "force", false, "seed even if the database already has messages")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.Seed = *seed
	d, err := openDatabase(ctx, os.Getenv)
	if err != nil {
		return err
	}
	defer d.Close()
	return seedDatabase(ctx, d, o, os.Stderr)
}

var seedDepartments = []struct{ slug, name, whatsapp string }{
	{"admissions", "Admissions", "+14155550100"},
	{"academics", "Academics", "+14155550101"},
	{"finance", "Finance", "+14155550102"},
	{"transport", "Transport", "+14155550103"},
	{"athletics", "Athletics", "+14155550104"},
	{"counseling", "Counseling", "+14155550105"},
}

var (
	seedFirstNames = []string{"Ana", "Ben", "Carmen", "David", "Elena", "Farah", "George", "Hana", "Ibrahim", "Julia",
		"Kwame", "Laura", "Mateo", "Nadia", "Omar", "Priya", "Quentin", "Rosa", "Samuel", "Tomás", "Uma", "Victor",
		"Wei", "Ximena", "Yusuf", "Zoe", "Liam", "Olivia", "Noah", "Emma", "Lucas", "Sofia", "Aisha", "Diego", "Mei", "Ravi"}
	seedLastNames = []string{"Garcia", "Smith", "Nguyen", "Okafor", "Rossi", "Kowalski", "Haddad", "Johnson", "Müller",
		"Tanaka", "Silva", "Patel", "Brown", "Martinez", "Cohen", "O'Brien", "Ivanova", "Mensah", "Lopez", "Kim",
		"Andersen", "Dubois", "Hernandez", "Williams", "Chen", "Ali", "Novak", "Santos", "Fischer", "Wright"}
	seedSubjects = []string{"maths", "science", "history", "art", "music", "PE", "English", "Spanish", "chemistry", "biology", "geography", "drama"}
	seedDays     = []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"}
	// Inbound: what parents and students write. {S} subject, {D} day, {N} a first name.
	seedInbound = []string{
		"Hi, is school open tomorrow?",
		"{N} is sick today and won't be in.",
		"What time does the bus leave on {D}?",
		"Can I book a visit for {D}?",
		"Has the {S} homework been set yet?",
		"{N} forgot the lunch money, can I pay online?",
		"When is the parents' evening?",
		"Thank you!",
		"Ok, thanks",
		"Is the uniform shop open on {D}?",
		"I paid the trip fee yesterday, can you confirm?",
		"Who is {N}'s {S} teacher this term?",
		"We'll be late, dentist appointment at 9.",
		"Can {N} be picked up early on {D}?",
		"Where can I find the term dates?",
		"The invoice amount looks wrong, can someone call me?",
		"Is there a waiting list for admissions next year?",
		"{N} lost a jumper in the gym, has anyone found it?",
		"What documents do you need for enrolment?",
		"Is the {S} exam on {D} or next week?",
	}
	seedOutbound = []string{
		"Hello, yes the school is open as usual.",
		"Thanks for letting us know, we hope {N} feels better soon.",
		"The bus leaves at 7:45 on {D}.",
		"A visit on {D} at 10:00 is available, shall I book it?",
		"The {S} homework is on the portal now.",
		"You can pay lunch money online through the parent portal.",
		"Parents' evening is on Thursday from 4pm to 7pm.",
		"You're welcome!",
		"The uniform shop opens on {D} from 8:00 to 9:00.",
		"We have received the trip fee, thank you.",
		"{N}'s {S} teacher is Ms Rivera.",
		"Noted, thank you for telling us.",
		"Yes, please sign {N} out at reception on {D}.",
		"Term dates are on the school website under Calendar.",
		"Our finance office will call you today about the invoice.",
		"Applications for next year open in January; we will add you to the list.",
		"Please check lost property next to the gym on {D}.",
		"We need a birth certificate, proof of address and the last school report.",
		"The {S} exam is on {D} in the main hall.",
		"Reminder: school closes early on Friday for staff training.",
	}
)

// seedDatabase creates departments and senders and bulk-loads contacts,
// conversations and messages with COPY. Ids are assigned here (COPY writes
// identity columns as given) so messages can point at their conversations.
func seedDatabase(ctx context.Context, d *db.DB, o seedOptions, progress io.Writer) error {
	if progress == nil {
		progress = io.Discard
	}
	if o.Conversations <= 0 {
		return errors.New("seed: --conversations must be positive")
	}
	if o.Messages < o.Conversations {
		return fmt.Errorf("seed: --messages (%d) must be at least --conversations (%d)", o.Messages, o.Conversations)
	}
	if o.Departments < 1 || o.Departments > len(seedDepartments) {
		return fmt.Errorf("seed: --departments must be 1-%d", len(seedDepartments))
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	start := time.Now()
	logf := func(f string, a ...any) {
		fmt.Fprintf(progress, "seed: %-52s %8s\n", fmt.Sprintf(f, a...), time.Since(start).Round(time.Millisecond))
	}

	var existing bool
	if err := d.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM messages)`).Scan(&existing); err != nil {
		return fmt.Errorf("seed: count messages: %w", err)
	}
	if existing && !o.Force {
		return errors.New("seed: the database already has messages; use --force to add the seeded data anyway")
	}

	// Departments and senders: the same numbers the simulator mode creates.
	var senders []db.Sender
	for i, dep := range seedDepartments[:o.Departments] {
		id, err := d.EnsureDepartment(ctx, dep.slug, dep.name)
		if err != nil {
			return err
		}
		s, err := d.EnsureSender(ctx, "whatsapp", dep.whatsapp, dep.name, &id)
		if err != nil {
			return err
		}
		senders = append(senders, s)
		if i == 0 {
			s, err := d.EnsureSender(ctx, "sms", "+14155550199", "Front office", &id)
			if err != nil {
				return err
			}
			senders = append(senders, s)
		}
	}
	logf("%d departments, %d senders", o.Departments, len(senders))

	// Id bases, so --force adds to what is there without clashing.
	var contactBase, convBase, msgBase int64
	if err := d.Pool.QueryRow(ctx, `SELECT (SELECT coalesce(max(id), 0) FROM contacts), (SELECT coalesce(max(id), 0) FROM conversations),
		(SELECT coalesce(max(id), 0) FROM messages)`).Scan(&contactBase, &convBase, &msgBase); err != nil {
		return fmt.Errorf("seed: id bases: %w", err)
	}

	// Plan: most contacts have one conversation, one in four a second one with
	// another sender, so (contact, sender) stays unique.
	nContacts := o.Conversations * 4 / 5
	if len(senders) < 2 || nContacts < 1 {
		nContacts = o.Conversations
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	counts := splitMessages(rng, o.Conversations, o.Messages)

	// Contacts.
	contactRows := make([][]any, nContacts)
	for i := range contactRows {
		id := contactBase + int64(i) + 1
		name := seedFirstNames[rng.IntN(len(seedFirstNames))] + " " + seedLastNames[rng.IntN(len(seedLastNames))]
		if rng.IntN(20) == 0 {
			name = "" // known only by number (and WhatsApp profile name)
		}
		role := "guardian"
		if rng.IntN(8) == 0 {
			role = "student"
		}
		created := o.Now.Add(-time.Duration(90+rng.IntN(300)) * 24 * time.Hour)
		contactRows[i] = []any{id, seedPhone(id), name, role, seedFirstNames[rng.IntN(len(seedFirstNames))], created, created}
	}
	if _, err := d.Pool.CopyFrom(ctx, pgx.Identifier{"contacts"},
		[]string{"id", "phone", "name", "role", "profile_name", "created_at", "updated_at"}, pgx.CopyFromSlice(len(contactRows), func(i int) ([]any, error) { return contactRows[i], nil })); err != nil {
		return fmt.Errorf("seed: copy contacts: %w", err)
	}
	logf("%d contacts", nContacts)

	// Conversations: each one's message timeline is derived from its own
	// random stream, so the messages pass regenerates exactly the same one.
	convs := make([]seedConv, o.Conversations)
	statuses := []string{"open", "open", "open", "open", "open", "closed", "closed", "closed", "closed", "snoozed"}
	convRows := make([][]any, o.Conversations)
	for i := range convs {
		c := &convs[i]
		c.id = convBase + int64(i) + 1
		ci := i % nContacts
		c.contactID = contactBase + int64(ci) + 1
		c.phone = seedPhone(c.contactID)
		c.sender = senders[(ci+i/nContacts)%len(senders)]
		c.count = counts[i]
		c.seed = o.Seed*1_000_003 + uint64(c.id)
		// Activity skews recent: half the conversations moved in the last ~2 weeks.
		age := time.Duration(math.Pow(rng.Float64(), 2.5) * float64(90*24*time.Hour))
		c.last = o.Now.Add(-age).Truncate(time.Second)
		t := c.timeline(nil)
		status := statuses[rng.IntN(len(statuses))]
		var snoozed, waiting *time.Time
		if status == "snoozed" {
			s := o.Now.Add(time.Duration(1+rng.IntN(72)) * time.Hour)
			snoozed = &s
		}
		if status != "closed" && t.waiting != nil {
			waiting = t.waiting
		}
		convRows[i] = []any{c.id, c.contactID, c.sender.ID, c.sender.DepartmentID, c.sender.Channel, status, snoozed,
			c.last, t.lastInbound, waiting, t.first}
	}
	if _, err := d.Pool.CopyFrom(ctx, pgx.Identifier{"conversations"},
		[]string{"id", "contact_id", "sender_id", "department_id", "channel", "status", "snoozed_until", "last_message_at", "last_inbound_at", "waiting_since", "created_at"},
		pgx.CopyFromSlice(len(convRows), func(i int) ([]any, error) { return convRows[i], nil })); err != nil {
		return fmt.Errorf("seed: copy conversations: %w", err)
	}
	convRows = nil
	logf("%d conversations", o.Conversations)

	// Messages: two COPY streams over halves of the conversations, each
	// generating rows as PostgreSQL asks for them.
	parts := 2
	if o.Messages < 20000 {
		parts = 1
	}
	var msgStart []int64 // first message id of each conversation
	msgStart = make([]int64, len(convs))
	next := msgBase + 1
	for i := range convs {
		msgStart[i] = next
		next += int64(convs[i].count)
	}
	copyCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var copied [2]int64
	errs := make([]error, parts)
	for p := range parts {
		lo, hi := p*len(convs)/parts, (p+1)*len(convs)/parts
		wg.Go(func() {
			src := &seedMessageSource{convs: convs[lo:hi], nextID: msgStart[lo]}
			n, err := d.Pool.CopyFrom(copyCtx, pgx.Identifier{"messages"}, seedMessageColumns, src)
			copied[p] = n
			if err != nil {
				errs[p] = fmt.Errorf("seed: copy messages: %w", err)
				cancel() // the other stream stops too
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	logf("%d messages", copied[0]+copied[1])

	// Identity sequences continue after the ids we wrote.
	for _, t := range []string{"contacts", "conversations", "messages"} {
		if _, err := d.Pool.Exec(ctx, fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', 'id'), (SELECT max(id) FROM %s))`, t, t)); err != nil {
			return fmt.Errorf("seed: sequence of %s: %w", t, err)
		}
	}
	// Fresh statistics and visibility map, so the planner sees the real sizes
	// and index-only scans work at once.
	if _, err := d.Pool.Exec(ctx, `VACUUM (ANALYZE) contacts, conversations, messages`); err != nil {
		return fmt.Errorf("seed: vacuum analyze: %w", err)
	}
	logf("vacuum analyze")
	fmt.Fprintf(progress, "seed: done: %d contacts, %d conversations, %d messages in %s\n",
		nContacts, o.Conversations, copied[0]+copied[1], time.Since(start).Round(time.Millisecond))
	return nil
}

// splitMessages shares total messages over n conversations, at least one
// each, skewed like a real inbox: many short threads and a few long ones.
func splitMessages(rng *rand.Rand, n, total int) []int {
	w := make([]float64, n)
	sum := 0.0
	for i := range w {
		x := rng.ExpFloat64()
		w[i] = x * x
		sum += w[i]
	}
	counts := make([]int, n)
	spare := total - n
	used := 0
	for i := range counts {
		extra := int(w[i] / sum * float64(spare))
		counts[i] = 1 + extra
		used += extra
	}
	for i := 0; used < spare; i = (i + 1) % n {
		counts[i]++
		used++
	}
	return counts
}

// seedPhone is a unique, random-looking +1555 number for a contact id
// (an affine permutation of 0..9,999,999).
func seedPhone(id int64) string {
	return fmt.Sprintf("+1555%07d", (id*7919+1234567)%10_000_000)
}

type seedConv struct {
	id, contactID int64
	phone         string
	sender        db.Sender
	count         int
	seed          uint64
	last          time.Time
}

type seedTimeline struct {
	first       time.Time
	lastInbound *time.Time
	waiting     *time.Time // first inbound after the last outbound, when the contact wrote last
}

type seedMsg struct {
	at      time.Time
	inbound bool
	rng     *rand.Rand
}

// timeline walks the conversation's messages oldest first, calling each
// (when non-nil), and summarises them. Deterministic per conversation.
func (c *seedConv) timeline(each func(seedMsg)) seedTimeline {
	// Shape and content draw from separate streams: the conversations pass
	// (shape only) and the messages pass (both) must see the same shape.
	rng := rand.New(rand.NewPCG(c.seed, 0xc0417))
	var content *rand.Rand
	if each != nil {
		content = rand.New(rand.NewPCG(c.seed, 0xb0d1e5))
	}
	// Gaps back from the last message: minutes within an exchange, sometimes days.
	offsets := make([]time.Duration, c.count)
	var back time.Duration
	for i := c.count - 1; i >= 0; i-- {
		offsets[i] = back
		if rng.IntN(6) == 0 {
			back += time.Duration(1+rng.IntN(72)) * time.Hour
		} else {
			back += time.Duration(1+rng.IntN(40)) * time.Minute
		}
	}
	var t seedTimeline
	inbound := true // parents usually start
	for i := range c.count {
		at := c.last.Add(-offsets[i])
		if i == 0 {
			t.first = at
		} else if rng.IntN(10) < 7 {
			inbound = !inbound
		}
		if inbound {
			a := at
			t.lastInbound = &a
			if t.waiting == nil {
				t.waiting = &a
			}
		} else {
			t.waiting = nil
		}
		if each != nil {
			each(seedMsg{at: at, inbound: inbound, rng: content})
		}
	}
	return t
}

var seedMessageColumns = []string{"id", "conversation_id", "direction", "channel", "from_address", "to_address", "body",
	"twilio_sid", "status", "error_code", "error_message", "segments", "created_at", "status_updated_at"}

// seedMessageSource is a pgx.CopyFromSource producing the messages of convs in order.
type seedMessageSource struct {
	convs  []seedConv
	nextID int64
	buf    [][]any
	row    []any
	err    error
}

func (s *seedMessageSource) Next() bool {
	for len(s.buf) == 0 {
		if len(s.convs) == 0 {
			return false
		}
		c := &s.convs[0]
		s.convs = s.convs[1:]
		s.buf = s.buf[:0]
		contact, ours := c.phone, c.sender.Address
		if c.sender.Channel == "whatsapp" {
			contact, ours = "whatsapp:"+contact, "whatsapp:"+ours
		}
		c.timeline(func(m seedMsg) {
			id := s.nextID
			s.nextID++
			var sid [16]byte
			for i := range 8 {
				sid[i] = byte(m.rng.Uint32())
			}
			for i := range 8 {
				sid[8+i] = byte(uint64(id) >> (56 - 8*i))
			}
			from, to, dir, status := contact, ours, "inbound", "received"
			templates := seedInbound
			var code any
			errMsg := ""
			if !m.inbound {
				from, to, dir, templates = ours, contact, "outbound", seedOutbound
				switch r := m.rng.IntN(100); {
				case r < 55:
					status = "read"
				case r < 85:
					status = "delivered"
				case r < 95:
					status = "sent"
				default:
					status, code, errMsg = "failed", 63016, "Failed to send freeform message because you are outside the allowed window."
				}
			}
			body := seedBody(m.rng, templates)
			s.buf = append(s.buf, []any{id, c.id, dir, c.sender.Channel, from, to, body, "SM" + hex.EncodeToString(sid[:]),
				status, code, errMsg, 1, m.at, m.at.Add(time.Duration(m.rng.IntN(120)) * time.Second)})
		})
	}
	s.row, s.buf = s.buf[0], s.buf[1:]
	return true
}

func (s *seedMessageSource) Values() ([]any, error) { return s.row, nil }
func (s *seedMessageSource) Err() error             { return s.err }

func seedBody(rng *rand.Rand, templates []string) string {
	t := templates[rng.IntN(len(templates))]
	if !strings.Contains(t, "{") {
		return t
	}
	return strings.NewReplacer(
		"{N}", seedFirstNames[rng.IntN(len(seedFirstNames))],
		"{S}", seedSubjects[rng.IntN(len(seedSubjects))],
		"{D}", seedDays[rng.IntN(len(seedDays))],
	).Replace(t)
}
