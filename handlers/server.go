// Package handlers is Classline's HTTP layer: one route table, thin handlers
// that parse, call a service or a named query, and render.
package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/auth"
	"github.com/classline/classline/internal/broadcast"
	"github.com/classline/classline/internal/config"
	"github.com/classline/classline/internal/live"
	"github.com/classline/classline/internal/media"
	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/internal/metrics"
	"github.com/classline/classline/internal/people"
	"github.com/classline/classline/internal/templates"
	"github.com/classline/classline/internal/twilio"
	"github.com/classline/classline/internal/twiliosim"
	"github.com/classline/classline/static"
)

// Deps is everything the handlers use.
type Deps struct {
	Config    config.Config
	DB        *db.DB
	Auth      *auth.Service
	Messaging *messaging.Service
	Media     *media.Service
	People    *people.Service
	Templates *templates.Service
	Hub       *live.Hub
	Gateway   *twilio.Gateway
	Sim       *twiliosim.Sim // nil unless the in-process simulator runs
	Log       *slog.Logger
	Metrics   *metrics.Metrics
	// Broadcasts is the broadcast engine (nil in handler tests without one).
	Broadcasts *broadcast.Engine
	Now        func() time.Time
	// Done is closed at shutdown so long-lived streams (SSE) end and let the
	// server drain.
	Done <-chan struct{}
}

// Server holds the dependencies and the cookie store.
type Server struct {
	Deps
	cookies *sessions.CookieStore
	renders renderCache
}

// New builds the Echo instance with every route. The route table is the one
// place to see who may reach what.
func New(d Deps) *echo.Echo {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Done == nil {
		d.Done = make(chan struct{})
	}
	s := &Server{Deps: d, cookies: newCookieStore(d.Config)}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	if d.Config.TrustProxy {
		e.IPExtractor = echo.ExtractIPFromXFFHeader()
	} else {
		// Anyone can send X-Forwarded-For; trusting it would let an attacker
		// dodge the sign-in throttle.
		e.IPExtractor = echo.ExtractIPDirect()
	}

	e.Use(s.recoverer, s.requestID, s.logRequests, s.securityHeaders, s.loadSession)

	// Public: health, metrics, static files, webhooks (signature-checked), login.
	e.GET("/healthz", s.healthz)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(d.Metrics.Registry, promhttp.HandlerOpts{})))
	e.GET("/static/*", echo.WrapHandler(staticHandler()))
	e.POST("/webhooks/twilio/inbound", s.inboundWebhook)
	e.POST("/webhooks/twilio/status", s.statusWebhook)
	e.GET("/login", s.loginPage)
	e.POST("/login", s.login, s.csrf)

	// Signed-in staff.
	app := e.Group("", s.requireUser, s.csrf)
	app.GET("/", func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, "/inbox") })
	app.POST("/logout", s.logout)
	app.GET("/inbox", s.inbox)
	app.GET("/compose", s.composePage)
	app.POST("/compose", s.compose)
	app.POST("/compose/count", s.composeCount)
	app.GET("/compose/sender", s.senderChoice)
	app.GET("/compose/template", s.composeTemplate)
	app.POST("/compose/template/preview", s.composeTemplatePreview)
	app.GET("/conversations/:id", s.conversation)
	app.POST("/conversations/:id/messages", s.reply)
	app.GET("/conversations/:id/composer", s.composer)
	app.GET("/conversations/:id/template", s.templatePanel)
	app.POST("/conversations/:id/template", s.sendTemplate)
	app.POST("/conversations/:id/template/preview", s.templateSendPreview)
	app.POST("/conversations/:id/assign", s.act("assign"))
	app.POST("/conversations/:id/close", s.act("close"))
	app.POST("/conversations/:id/reopen", s.act("reopen"))
	app.POST("/conversations/:id/snooze", s.act("snooze"))
	app.POST("/conversations/:id/notes", s.addNote)
	app.POST("/conversations/:id/read", s.markRead)
	app.POST("/conversations/:id/presence", s.presence)
	app.POST("/messages/:id/retry", s.retry)
	app.GET("/events", s.events)
	s.broadcastRoutes(app)
	s.dashboardRoutes(app)
	s.contactRoutes(app)
	s.contactImportRoutes(app)

	// Admins only.
	admin := app.Group("", s.requireAdmin)
	admin.GET("/senders", s.sendersPage)
	admin.POST("/senders/sync", s.syncSenders)
	admin.GET("/users", s.peoplePage)
	admin.POST("/users", s.createPerson)
	admin.GET("/users/:id", s.personPage)
	admin.POST("/users/:id", s.updatePerson)
	admin.POST("/users/:id/deactivate", s.setPersonActive(false))
	admin.POST("/users/:id/reactivate", s.setPersonActive(true))
	admin.POST("/users/:id/password", s.resetPassword)
	admin.GET("/audit", s.auditPage)
	admin.GET("/departments", s.departmentsPage)
	admin.POST("/departments", s.createDepartment)
	admin.POST("/departments/:id", s.renameDepartment)
	admin.POST("/departments/:id/archive", s.archiveDepartment(true))
	admin.POST("/departments/:id/restore", s.archiveDepartment(false))
	admin.GET("/simulator", s.simulatorPage)
	admin.POST("/simulator", s.simulatorSend)

	s.cannedRoutes(app, admin)
	s.templateRoutes(admin)
	s.senderAdminRoutes(admin)
	s.departmentSettingsRoutes(admin)
	s.mediaRoutes(e, app)
	return e
}

func staticHandler() http.Handler {
	fs := http.StripPrefix("/static/", http.FileServerFS(static.FS))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fs.ServeHTTP(w, r)
	})
}

func (s *Server) healthz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.DB.Ping(ctx); err != nil {
		return c.String(http.StatusServiceUnavailable, "database unavailable\n")
	}
	return c.String(http.StatusOK, "ok\n")
}
