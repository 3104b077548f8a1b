package twilio

import (
	"context"
	"fmt"
	"time"

	twiliogo "github.com/twilio/twilio-go"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// SendMessageOnce is SendMessage with no retry at all, not even for 429: the
// broadcast engine schedules its own retries so that every attempt is
// recorded and the account-wide concurrency slot is given back while waiting.
func (g *Gateway) SendMessageOnce(ctx context.Context, r SendRequest) (Message, error) {
	once := *g
	once.maxRetries = 0
	return once.SendMessage(ctx, r)
}

// RecentMessagesTo lists the newest messages sent to `to` (an address as sent:
// "+E164" or "whatsapp:+E164"), newest first, stopping at the first one
// created before since or after limit messages. Twilio's list filters only by
// date sent, which a still-queued message lacks, so the date is checked here.
func (g *Gateway) RecentMessagesTo(ctx context.Context, to string, since time.Time, limit int) ([]Message, error) {
	if limit <= 0 {
		limit = 50
	}
	p := &openapi.ListMessageParams{}
	p.SetTo(to)
	p.SetPageSize(min(limit, 1000))
	p.SetLimit(limit)
	var out []openapi.ApiV2010Message
	err := g.do(ctx, func(rc *twiliogo.RestClient) error {
		var err error
		out, err = rc.Api.ListMessage(p)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("twilio: list messages: %w", err)
	}
	msgs := make([]Message, 0, len(out))
	for i := range out {
		m := toMessage(&out[i])
		if !m.DateCreated.IsZero() && m.DateCreated.Before(since) {
			break
		}
		m.MessagingServiceSID = deref(out[i].MessagingServiceSid)
		msgs = append(msgs, m)
	}
	return msgs, nil
}
