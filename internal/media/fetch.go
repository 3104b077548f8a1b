package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/live"
)

// Where inbound media lives. A webhook's MediaUrlN is
// https://api.twilio.com/2010-04-01/Accounts/AC…/Messages/MM…/Media/ME…,
// which answers with a redirect (302/307) to a short-lived URL on Twilio's
// media CDN: mms.twiliocdn.com when the account enforces HTTP auth on media,
// media.twiliocdn.com otherwise, and for older media the S3 bucket
// media.twiliocdn.com behind s3-external-1.amazonaws.com. Nothing else is
// fetched, and credentials go to api.twilio.com (and the simulator) only.
const twilioAPIHost = "api.twilio.com"

// redirectHosts are the hosts a media download may be redirected to, each
// with the path it must start with.
var redirectHosts = map[string]string{
	"mms.twiliocdn.com":           "/",
	"media.twiliocdn.com":         "/",
	"s3-external-1.amazonaws.com": "/media.twiliocdn.com/",
}

const (
	maxRedirects = 3
	// fetchTimeout bounds one download attempt, redirects included.
	fetchTimeout = 90 * time.Second
	// maxAttempts: after this many failed tries a transient failure is
	// recorded as final (about two hours of backoff in all).
	maxAttempts = 8
	// sweepWindow: older messages are not fetched any more.
	sweepWindow = 7 * 24 * time.Hour
)

// hop is what may be done with one URL of a download.
type hop struct {
	allowed  bool
	withAuth bool   // send the account's credentials
	reason   string // why not, for the log
}

// hopPolicy decides whether u may be requested; first is the webhook's own URL
// (which must be api.twilio.com or the simulator), later hops are redirects.
func (s *Service) hopPolicy(u *url.URL, first bool) hop {
	if u.User != nil {
		return hop{reason: "URL carries credentials"}
	}
	if sim := s.simulator(); sim != nil && u.Scheme == sim.Scheme && canonicalHost(u) == canonicalHost(sim) {
		return hop{allowed: true, withAuth: true}
	}
	if u.Scheme != "https" {
		return hop{reason: "not https"}
	}
	if p := u.Port(); p != "" && p != "443" {
		return hop{reason: "unexpected port " + p}
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == twilioAPIHost {
		return hop{allowed: true, withAuth: true}
	}
	if first {
		return hop{reason: "host " + host + " is not " + twilioAPIHost}
	}
	if prefix, ok := redirectHosts[host]; ok && strings.HasPrefix(u.EscapedPath(), prefix) {
		return hop{allowed: true}
	}
	return hop{reason: "redirect to host " + host + " is not a Twilio media host"}
}

// simulator is SimulatorBase parsed, or nil.
func (s *Service) simulator() *url.URL {
	if s.SimulatorBase == "" {
		return nil
	}
	u, err := url.Parse(s.SimulatorBase)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil
	}
	return u
}

// canonicalHost is host:port with the scheme's default port made explicit.
func canonicalHost(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(strings.ToLower(strings.TrimSuffix(u.Hostname(), ".")), port)
}

// guardedClient follows no redirects (each hop is checked by download), uses
// no proxy, and dials through dialGuard.
func (s *Service) guardedClient() *http.Client {
	g := &dialGuard{resolver: s.resolver, dialer: &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}}
	if g.resolver == nil {
		g.resolver = net.DefaultResolver
	}
	if sim := s.simulator(); sim != nil {
		g.allow = canonicalHost(sim)
	}
	g.dialer.Control = controlPublicOnly
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil, // a proxy would dial for us, unchecked
			DialContext:           g.DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			MaxIdleConns:          8,
			IdleConnTimeout:       90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// dialGuard connects only to public addresses, except the simulator's
// host:port, which is dialled as given (it is loopback in development).
// It resolves the name itself and dials the address it checked, so a DNS
// answer cannot change between the check and the connection.
type dialGuard struct {
	allow    string // "host:port" dialled without checks; "" for none
	resolver resolver
	dialer   *net.Dialer // its Control re-checks the address at connect time
}

// errPrivateAddress marks a refused connection to a non-public address.
var errPrivateAddress = errors.New("refusing to connect to a private, loopback or link-local address")

func (g *dialGuard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if g.allow != "" && addr == g.allow {
		d := *g.dialer
		d.Control = nil
		return d.DialContext(ctx, network, addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		ips, err = g.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, err
		}
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("dial %s: no addresses", host)
	}
	// One non-public answer refuses the name: a Twilio host never has one.
	for _, ip := range ips {
		if !publicAddr(ip) {
			return nil, fmt.Errorf("dial %s (%s): %w", host, ip, errPrivateAddress)
		}
	}
	var firstErr error
	for _, ip := range ips {
		c, err := g.dialer.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// controlPublicOnly runs just before connect(2) with the address actually
// dialled: the last line of defence behind DialContext's check.
func controlPublicOnly(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, err)
	}
	if !publicAddr(ap.Addr()) {
		return fmt.Errorf("dial %s: %w", address, errPrivateAddress)
	}
	return nil
}

// nonPublic are special-purpose ranges besides those netip classifies.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: may reach private IPv4
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local NAT64
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4: embeds any IPv4
	netip.MustParsePrefix("2001::/32"),       // Teredo: embeds any IPv4
}

// publicAddr reports whether ip is a globally routable unicast address.
func publicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || !ip.IsGlobalUnicast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// fetchError is a failed download; permanent ones are not retried.
type fetchError struct {
	permanent bool
	reason    string // for staff
	err       error  // for the log
}

func (e *fetchError) Error() string {
	if e.err != nil {
		return e.reason + ": " + e.err.Error()
	}
	return e.reason
}

func permanent(reason string, err error) *fetchError {
	return &fetchError{permanent: true, reason: reason, err: err}
}

func transient(reason string, err error) *fetchError {
	return &fetchError{reason: reason, err: err}
}

// fetched is a downloaded file.
type fetched struct {
	data        []byte
	contentType string // the response's, normalised
	filename    string // from Content-Disposition, if any
}

// download fetches one media URL, checking every hop against hopPolicy and
// reading at most InboundMaxBytes.
func (s *Service) download(ctx context.Context, raw string) (fetched, *fetchError) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	u, err := url.Parse(raw)
	if err != nil {
		return fetched{}, permanent("The attachment's address is not valid.", err)
	}
	for redirects := 0; ; redirects++ {
		h := s.hopPolicy(u, redirects == 0)
		if !h.allowed {
			return fetched{}, permanent("The attachment's address is not a Twilio media address, so Classline did not fetch it.", errors.New(h.reason))
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return fetched{}, permanent("The attachment's address is not valid.", err)
		}
		if h.withAuth && s.AccountSID != "" {
			req.SetBasicAuth(s.AccountSID, s.AuthToken)
		}
		req.Header.Set("User-Agent", "Classline media fetcher")
		res, err := s.client.Do(req)
		if err != nil {
			if errors.Is(err, errPrivateAddress) {
				return fetched{}, permanent("The attachment's address leads to a private network, so Classline did not fetch it.", err)
			}
			return fetched{}, transient("Twilio could not be reached.", err)
		}
		if isRedirect(res.StatusCode) {
			loc := res.Header.Get("Location")
			drain(res)
			if loc == "" {
				return fetched{}, transient("Twilio answered with a redirect to nowhere.", fmt.Errorf("HTTP %d without Location", res.StatusCode))
			}
			if redirects >= maxRedirects {
				return fetched{}, permanent("Twilio redirected the download too many times.", nil)
			}
			next, err := u.Parse(loc)
			if err != nil {
				return fetched{}, permanent("Twilio redirected the download to an invalid address.", err)
			}
			u = next
			continue
		}
		return readBody(res)
	}
}

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

func drain(res *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	_ = res.Body.Close()
}

func readBody(res *http.Response) (fetched, *fetchError) {
	defer drain(res)
	status := fmt.Errorf("HTTP %d", res.StatusCode)
	switch {
	case res.StatusCode == http.StatusOK:
	case res.StatusCode == http.StatusNotFound:
		// Twilio may answer 404 for a few seconds after the webhook, until the
		// file has propagated: worth retrying, for a while.
		return fetched{}, transient("Twilio no longer has the file (it may have been deleted).", status)
	case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden:
		return fetched{}, transient("Twilio refused Classline's credentials for the file.", status)
	case res.StatusCode == http.StatusGone:
		return fetched{}, permanent("Twilio no longer has the file (it was deleted).", status)
	case res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusRequestTimeout || res.StatusCode >= 500:
		return fetched{}, transient("Twilio was busy or unavailable.", status)
	default:
		return fetched{}, permanent("Twilio would not hand over the file.", status)
	}
	tooBig := permanent("The file is larger than 16 MB, the most Classline keeps.", nil)
	if res.ContentLength > InboundMaxBytes {
		return fetched{}, tooBig
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, InboundMaxBytes+1))
	if err != nil {
		return fetched{}, transient("The download was interrupted.", err)
	}
	if int64(len(data)) > InboundMaxBytes {
		return fetched{}, tooBig
	}
	if len(data) == 0 {
		return fetched{}, transient("Twilio handed over an empty file.", nil)
	}
	f := fetched{data: data, contentType: NormalizeType(res.Header.Get("Content-Type"))}
	if _, params, err := mime.ParseMediaType(res.Header.Get("Content-Disposition")); err == nil {
		f.filename = params["filename"]
	}
	return f, nil
}

// unsafeTypes are never kept: a media URL answering with a page or a script
// is an error page or worse, never a parent's attachment.
var unsafeTypes = map[string]bool{
	"text/html": true, "application/xhtml+xml": true, "text/xml": true, "application/xml": true,
	"image/svg+xml": true, "text/javascript": true, "application/javascript": true,
}

// inboundType settles a fetched file's type: the sniffed one when the bytes
// say, else the response's, else the webhook's.
func inboundType(f fetched, declared string) (string, *fetchError) {
	hint := f.contentType
	if hint == "" || hint == "application/octet-stream" {
		hint = NormalizeType(declared)
	}
	ct := DetectType(f.data, hint, f.filename)
	if (ct == "application/octet-stream" || ct == "text/plain") && hint != "" {
		ct = hint
	}
	if unsafeTypes[ct] || unsafeTypes[f.contentType] {
		return "", permanent(fmt.Sprintf("Twilio handed over %s instead of the attachment, so Classline did not keep it.", describeType(ct)), nil)
	}
	return ct, nil
}

// backoff is the wait after the nth failed attempt (1-based): 1, 2, 4 … 60 minutes.
func backoff(attempt int) time.Duration {
	d := time.Minute << min(attempt-1, 6)
	return min(d, time.Hour)
}

// FetchInbound fetches every attachment of an inbound message that is
// neither stored nor given up on, stores each in media_files and records it
// on the message (file id, name, size), then announces the change. A failure
// that may pass (network, Twilio busy, the first seconds' 404) is retried a
// few times at once, then left to the sweep with backoff; a permanent one,
// or maxAttempts transient ones, is recorded as the entry's FetchError in
// plain words. The error returned is about the database only.
func (s *Service) FetchInbound(ctx context.Context, messageID int64) error {
	s.init()
	msg, err := s.DB.MessageMedia(ctx, messageID)
	if errors.Is(err, db.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if msg.Direction != "inbound" {
		return nil
	}
	changed := false
	for i, e := range msg.Entries {
		if !needsFetch(e, time.Now()) {
			continue
		}
		f, ferr := s.downloadWithRetries(ctx, e.URL)
		var ct string
		if ferr == nil {
			ct, ferr = inboundType(f, e.ContentType)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if ferr != nil {
			did, err := s.recordFailure(ctx, msg, i, e, ferr)
			if err != nil {
				return err
			}
			changed = changed || did
			continue
		}
		did, err := s.store(ctx, msg, i, e, f, ct)
		if err != nil {
			return err
		}
		changed = changed || did
	}
	if changed && s.Publish != nil {
		if err := s.Publish(ctx, msg.ConversationID, msg.ID, deref(msg.DepartmentID)); err != nil {
			s.Log.Warn("media: publish", "message_id", msg.ID, "err", err)
		}
	}
	return nil
}

func needsFetch(e db.MediaEntry, now time.Time) bool {
	return e.URL != "" && e.FileID == 0 && e.FetchError == "" && (e.FetchAfter == nil || !e.FetchAfter.After(now))
}

// downloadWithRetries tries a download, and again after each of retryDelays
// while the failure may pass.
func (s *Service) downloadWithRetries(ctx context.Context, raw string) (fetched, *fetchError) {
	for attempt := 0; ; attempt++ {
		f, ferr := s.download(ctx, raw)
		if ferr == nil || ferr.permanent || attempt >= len(s.retryDelays) {
			return f, ferr
		}
		t := time.NewTimer(s.retryDelays[attempt])
		select {
		case <-ctx.Done():
			t.Stop()
			return f, ferr
		case <-t.C:
		}
	}
}

// entryStillPending re-reads entry i under the row lock: another instance
// may have stored it meanwhile.
func entryStillPending(locked db.MediaMessage, i int, e db.MediaEntry) bool {
	if i >= len(locked.Entries) {
		return false
	}
	cur := locked.Entries[i]
	return cur.URL == e.URL && cur.FileID == 0 && cur.FetchError == ""
}

// store keeps a fetched file and records it on entry i, in one transaction.
func (s *Service) store(ctx context.Context, msg db.MediaMessage, i int, e db.MediaEntry, f fetched, ct string) (bool, error) {
	name := CleanFilename(f.filename, ct) // without one: "photo.jpg", "document.pdf"…
	size := int64(len(f.data))
	stored := false
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		locked, err := db.MessageMediaForUpdateTx(ctx, tx, msg.ID)
		if err != nil {
			return err
		}
		if !entryStillPending(locked, i, e) {
			return nil
		}
		id, _, err := db.InsertMediaFileTx(ctx, tx, db.NewMediaFile{
			MessageID: msg.ID, Direction: "inbound", ContentType: ct, Filename: name, Data: f.data, SourceURL: e.URL,
		})
		if err != nil {
			return err
		}
		var clear time.Time
		if err := db.UpdateMediaEntryTx(ctx, tx, msg.ID, i, db.MediaEntryUpdate{
			FileID: &id, Filename: &name, Size: &size, ContentType: &ct, FetchAfter: &clear,
		}); err != nil {
			return err
		}
		stored = true
		return s.publishTx(ctx, tx, locked)
	})
	if err != nil {
		return false, fmt.Errorf("media: store file %d of message %d: %w", i, msg.ID, err)
	}
	s.Log.Info("media: fetched", "message_id", msg.ID, "index", i, "content_type", ct, "bytes", size)
	return stored, nil
}

// recordFailure records a permanent failure, or counts a transient one and
// sets the next try; reports whether anything staff see changed.
func (s *Service) recordFailure(ctx context.Context, msg db.MediaMessage, i int, e db.MediaEntry, ferr *fetchError) (bool, error) {
	attempts := e.FetchAttempts + 1
	final := ferr.permanent || attempts >= maxAttempts
	s.Log.Warn("media: fetch failed", "message_id", msg.ID, "index", i, "attempt", attempts, "final", final, "err", ferr.Error())
	var u db.MediaEntryUpdate
	if final {
		reason := ferr.reason
		if !ferr.permanent {
			reason = fmt.Sprintf("Classline tried %d times to fetch this attachment and gave up. %s", attempts, ferr.reason)
		}
		u.FetchError = &reason
		var clear time.Time
		u.FetchAfter = &clear
	} else {
		next := time.Now().Add(backoff(attempts))
		u.FetchAfter = &next
	}
	u.Attempts = &attempts
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		locked, err := db.MessageMediaForUpdateTx(ctx, tx, msg.ID)
		if err != nil {
			return err
		}
		if !entryStillPending(locked, i, e) {
			final = false
			return nil
		}
		if err := db.UpdateMediaEntryTx(ctx, tx, msg.ID, i, u); err != nil {
			return err
		}
		if final {
			return s.publishTx(ctx, tx, locked)
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("media: record failure of file %d of message %d: %w", i, msg.ID, err)
	}
	return final, nil
}

// publishTx announces the change at commit, unless Publish does it after.
func (s *Service) publishTx(ctx context.Context, tx pgx.Tx, m db.MediaMessage) error {
	if s.Publish != nil {
		return nil
	}
	return live.Publish(ctx, tx, live.Event{Type: live.MessageStatus, ConversationID: m.ConversationID, MessageID: m.ID, DepartmentID: deref(m.DepartmentID)})
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
