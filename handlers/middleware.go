package handlers

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/auth"
	"github.com/classline/classline/internal/config"
)

const (
	cookieName = "classline_session"
	ctxUser    = "user"
	ctxSession = "session"
	ctxCSRF    = "csrf"
	ctxReqID   = "request_id"
)

func newCookieStore(cfg config.Config) *sessions.CookieStore {
	// Separate keys for signing and encryption, both derived from SESSION_KEY.
	hashKey := sha256.Sum256(append([]byte("classline-hash:"), cfg.SessionKey...))
	blockKey := sha256.Sum256(append([]byte("classline-block:"), cfg.SessionKey...))
	st := sessions.NewCookieStore(hashKey[:], blockKey[:])
	st.Options = &sessions.Options{
		Path:     "/",
		MaxAge:   int(auth.SessionLifetime / time.Second),
		HttpOnly: true,
		Secure:   cfg.SecureCookies(),
		SameSite: http.SameSiteLaxMode,
	}
	return st
}

func currentUser(c echo.Context) *db.User {
	u, _ := c.Get(ctxUser).(*db.User)
	return u
}

func csrfToken(c echo.Context) string {
	t, _ := c.Get(ctxCSRF).(string)
	return t
}

func (s *Server) recoverer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				s.Log.Error("panic", "request_id", c.Get(ctxReqID), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = echo.NewHTTPError(http.StatusInternalServerError)
			}
		}()
		return next(c)
	}
}

func (s *Server) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 {
			id = auth.NewToken()[:16]
		}
		c.Set(ctxReqID, id)
		c.Response().Header().Set("X-Request-Id", id)
		return next(c)
	}
}

func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		status := c.Response().Status
		dur := time.Since(start)
		s.Metrics.HTTPRequests.WithLabelValues(route, c.Request().Method, strconv.Itoa(status)).Inc()
		if route != "/events" {
			s.Metrics.HTTPDuration.WithLabelValues(route).Observe(dur.Seconds())
		}
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		} else if route == "/healthz" || route == "/metrics" || strings.HasPrefix(route, "/static") {
			level = slog.LevelDebug
		}
		// The query string is left out: it may carry phone numbers.
		s.Log.Log(c.Request().Context(), level, "request",
			"request_id", c.Get(ctxReqID), "method", c.Request().Method, "path", c.Request().URL.Path,
			"route", route, "status", status, "duration_ms", float64(dur.Microseconds())/1000, "ip", c.RealIP())
		return nil
	}
}

// contentSecurityPolicy allows only Classline's own files. Scripts: no
// inline code or handlers (the app's JS is in static/js, htmx runs with
// allowEval and allowScriptTags off), so text that slipped through escaping
// still could not run. Styles: 'self' too, without 'unsafe-inline': the
// templates carry no style attributes, htmx is told not to inject its
// indicator <style> (includeIndicatorStyles), and scripts set positions
// through the CSSOM, which style-src does not govern; an inline style would
// let injected markup restyle the page (fake buttons over real ones).
// object-src 'none': no plugins; frame-ancestors 'none': no framing
// (clickjacking), with X-Frame-Options for older browsers.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"

func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		if s.Config.SecureCookies() {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		return next(c)
	}
}

// loadSession puts the signed-in user (if any) and the CSRF token in the context.
func (s *Server) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if path := c.Request().URL.Path; strings.HasPrefix(path, "/webhooks/") || strings.HasPrefix(path, "/static/") || strings.HasPrefix(path, "/public/") {
			return next(c)
		}
		cs, _ := s.cookies.Get(c.Request(), cookieName) // a bad cookie reads as a new session
		if sid, ok := cs.Values["sid"].(string); ok && sid != "" {
			sess, u, err := s.DB.SessionWithUser(c.Request().Context(), sid)
			switch {
			case err == nil:
				c.Set(ctxUser, &u)
				c.Set(ctxSession, sess)
				c.Set(ctxCSRF, sess.CSRFToken)
				if time.Until(sess.ExpiresAt) < auth.SessionLifetime-time.Minute {
					if err := s.DB.TouchSession(c.Request().Context(), sid, s.Now().Add(auth.SessionLifetime)); err != nil {
						s.Log.Warn("touch session", "err", err)
					}
				}
				return next(c)
			case !errors.Is(err, db.ErrNotFound):
				return fmt.Errorf("load session: %w", err)
			}
			delete(cs.Values, "sid")
		}
		// Signed out: the login form still needs a CSRF token, kept in the cookie.
		tok, _ := cs.Values["csrf"].(string)
		if tok == "" {
			tok = auth.NewToken()
			cs.Values["csrf"] = tok
			if err := cs.Save(c.Request(), c.Response()); err != nil {
				return fmt.Errorf("save cookie: %w", err)
			}
		}
		c.Set(ctxCSRF, tok)
		return next(c)
	}
}

func (s *Server) requireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if currentUser(c) != nil {
			return next(c)
		}
		if isHTMX(c) {
			c.Response().Header().Set("HX-Redirect", "/login")
			return c.NoContent(http.StatusUnauthorized)
		}
		if c.Request().Method != http.MethodGet {
			return c.Redirect(http.StatusSeeOther, "/login")
		}
		return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
	}
}

func (s *Server) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if u := currentUser(c); u == nil || !u.IsAdmin() {
			return echo.NewHTTPError(http.StatusForbidden, "Only admins can open this page.")
		}
		return next(c)
	}
}

// csrf rejects state changes without the session's token, from the
// X-CSRF-Token header (htmx) or the _csrf form field.
func (s *Server) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		want := csrfToken(c)
		got := c.Request().Header.Get("X-CSRF-Token")
		if got == "" {
			got = c.FormValue("_csrf")
		}
		if want == "" || got == "" || subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
			s.Log.Warn("csrf rejected", "request_id", c.Get(ctxReqID), "path", c.Request().URL.Path, "missing", got == "")
			return echo.NewHTTPError(http.StatusForbidden, "This form has expired or did not come from Classline. Reload the page and try again.")
		}
		return next(c)
	}
}

func isHTMX(c echo.Context) bool {
	h := c.Request().Header
	return h.Get("HX-Request") == "true" && h.Get("HX-Boosted") != "true" && h.Get("HX-History-Restore-Request") != "true"
}
