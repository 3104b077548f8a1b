// Package media stores attachments: inbound files fetched from Twilio's media
// hosts, outbound files uploaded by staff and served to Twilio at expiring URLs.
//
// Outbound: the reply handler passes each uploaded file to Upload, which
// checks it against Twilio's rules for the channel (CheckOutbound), stores it
// and returns the db.Media to put on the message; the messaging service
// attaches the files to the message (db.AttachMediaFilesTx) and asks PublicURL
// for the URL it gives Twilio as MediaUrl.
//
// Inbound: the webhook stores the message with Twilio's MediaUrlN, then calls
// Enqueue; Run's workers fetch each file (FetchInbound) from api.twilio.com
// (or the simulator) with the account's credentials, store it, and publish a
// live update so open threads show it. A sweep every minute picks up what the
// queue missed (a crash, a full queue) and retries transient failures with
// backoff, so nothing is lost.
package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/classline/classline/db"
)

// PublicFor is how long Twilio may fetch an outbound file by its token. Twilio
// fetches MediaUrl within seconds of the create call, but it retries on
// errors and a message can sit queued (rate limits, a Messaging Service
// queue) before it is processed, so the window is generous; still short
// enough that a leaked URL stops working the same morning. Asking for the URL
// again (sending again) extends it.
const PublicFor = 2 * time.Hour

// Service stores and serves attachments. Set the exported fields, then call
// Run once (in a goroutine) before Enqueue has any effect.
type Service struct {
	DB *db.DB
	// AccountSID and AuthToken authenticate media downloads from
	// api.twilio.com (HTTP basic auth, needed when "Enforce HTTP Auth on
	// Media URLs" is on, harmless otherwise).
	AccountSID, AuthToken string
	// SimulatorBase is the in-process simulator's base URL
	// ("http://127.0.0.1:port"): media URLs there are fetched over plain
	// HTTP from loopback, with credentials. Empty in production.
	SimulatorBase string
	// PublicBaseURL is where Twilio reaches this app (PUBLIC_URL): outbound
	// files are served at PublicBaseURL + "/public/media/<token>". (A field
	// cannot share the PublicURL method's name.)
	PublicBaseURL string
	Log           *slog.Logger
	// Publish, if set, announces that a message's attachments changed, after
	// the change is committed. When nil the announcement is a live
	// MessageStatus event sent in the same transaction as the change.
	Publish func(ctx context.Context, conversationID, messageID, departmentID int64) error
	// HTTPClient fetches inbound media. Leave nil for the guarded default: it
	// follows no redirects by itself (FetchInbound checks each hop), uses no
	// proxy, and refuses to connect to private, loopback or link-local
	// addresses except the simulator's. A client set here replaces those
	// connection checks (tests use it to stand in for Twilio's hosts).
	HTTPClient *http.Client
	// Workers is how many files are fetched at once; default 4.
	Workers int

	once     sync.Once
	client   *http.Client
	queue    chan int64
	mu       sync.Mutex
	pending  map[int64]bool // queued or being fetched, on this instance
	resolver resolver       // for the dial guard; default net.DefaultResolver
	// retryDelays are the pauses between quick retries of a failed fetch
	// (Twilio's media may answer 404 for a few seconds after the webhook).
	retryDelays []time.Duration
	// sweepEvery and settle pace the sweep; tests shorten them.
	sweepEvery, settle time.Duration
}

// resolver looks up the addresses of a host name.
type resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

func (s *Service) init() {
	s.once.Do(func() {
		if s.Log == nil {
			s.Log = slog.New(slog.DiscardHandler)
		}
		if s.Workers <= 0 {
			s.Workers = 4
		}
		if s.retryDelays == nil {
			s.retryDelays = []time.Duration{2 * time.Second, 5 * time.Second}
		}
		if s.sweepEvery == 0 {
			s.sweepEvery = time.Minute
		}
		if s.settle == 0 {
			s.settle = time.Minute
		}
		s.queue = make(chan int64, 256)
		s.pending = make(map[int64]bool)
		s.client = s.HTTPClient
		if s.client == nil {
			s.client = s.guardedClient()
		}
	})
}

// Upload reads a file a staff member attaches to a message on channel
// ("whatsapp" or "sms"), checks it as Twilio would and stores it, fetchable
// by Twilio for PublicFor. It reads at most one byte more than the channel
// allows. The type is sniffed from the bytes; declaredType (the browser's)
// and filename only settle formats sharing a container. A file Twilio would
// refuse comes back as *RefusedError with the reason for staff.
func (s *Service) Upload(ctx context.Context, userID int64, channel, filename, declaredType string, r io.Reader) (db.Media, error) {
	limit := MaxUpload(channel)
	if limit == 0 {
		return db.Media{}, refused("Choose WhatsApp or SMS before attaching a file.")
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return db.Media{}, fmt.Errorf("media: read upload: %w", err)
	}
	ct := DetectType(data, declaredType, filename)
	if int64(len(data)) > limit {
		// Report the type's own limit when the type is one the channel takes.
		if err := CheckOutbound(channel, ct, 1); err != nil {
			return db.Media{}, err
		}
		return db.Media{}, refused("%s", tooLarge(channel, kindOf(ct), "more than "+FormatSize(limit)))
	}
	if err := CheckOutbound(channel, ct, int64(len(data))); err != nil {
		return db.Media{}, err
	}
	if channel == ChannelWhatsApp && ct == "audio/ogg" && !isOpus(data) {
		return db.Media{}, refused("WhatsApp plays OGG audio only when it is recorded with the Opus codec, as voice notes are. Send it as MP3 or AAC instead.")
	}
	name := CleanFilename(filename, ct)
	id, _, err := s.DB.InsertMediaFile(ctx, db.NewMediaFile{
		Direction: "outbound", ContentType: ct, Filename: name, Data: data,
		PublicFor: PublicFor, UploadedBy: userID,
	})
	if err != nil {
		return db.Media{}, fmt.Errorf("media: store upload: %w", err)
	}
	return db.Media{ContentType: ct, FileID: id, Filename: name, Size: int64(len(data))}, nil
}

// PublicURL returns the URL Twilio fetches an outbound file from,
// PublicBaseURL + "/public/media/<token>", and keeps it valid for PublicFor from
// now (so sending a message again hours later works). The token is 32 random
// bytes, base64url.
func (s *Service) PublicURL(ctx context.Context, fileID int64) (string, error) {
	if s.PublicBaseURL == "" {
		return "", errors.New("media: no public URL configured")
	}
	token, err := s.DB.ExtendMediaPublic(ctx, fileID, PublicFor)
	if err != nil {
		return "", fmt.Errorf("media: public URL of file %d: %w", fileID, err)
	}
	return strings.TrimRight(s.PublicBaseURL, "/") + "/public/media/" + token, nil
}
