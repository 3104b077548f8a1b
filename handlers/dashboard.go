package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/internal/dashboard"
	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/views/pages"
)

// dashboardRoutes: a broadcast's delivery report and the overall dashboard.
//
// Who may see what: the dashboard shows staff their departments and admins
// everything; a broadcast's report, recipients, failures export and retry
// are for staff of the broadcast's department and admins (anyone else reads
// 404, as for another department's conversation); a contact's broadcasts
// list only the broadcasts of the reader's departments.
func (s *Server) dashboardRoutes(app *echo.Group) {
	app.GET("/dashboard", s.dashboardPage)
	app.GET("/broadcasts/:id/report", s.broadcastReport)
	app.GET("/broadcasts/:id/recipients", s.broadcastRecipients)
	app.GET("/broadcasts/:id/failures.csv", s.broadcastFailuresCSV)
	app.POST("/broadcasts/:id/retry", s.retryBroadcast)
	app.GET("/contacts/:id/broadcasts", s.contactBroadcasts)
}

func (s *Server) dashboardSvc() *dashboard.Service {
	return &dashboard.Service{DB: s.DB, TZ: s.Config.SchoolTimezone, Now: s.Now}
}

// dashboardPage is the overall dashboard; ?days=7|30 picks the period and
// the toggle swaps the content below the top bar.
func (s *Server) dashboardPage(c echo.Context) error {
	days, _ := strconv.Atoi(c.QueryParam("days"))
	o, err := s.dashboardSvc().Overview(c.Request().Context(), messaging.DepartmentScope(*currentUser(c)), days)
	if err != nil {
		return err
	}
	p := s.page(c, "Dashboard", "dashboard")
	return render(c, http.StatusOK, pages.Dashboard(p, o), pages.DashboardContent(p, o))
}

// contactBroadcasts is the contact page's "Broadcasts received" section.
func (s *Server) contactBroadcasts(c echo.Context) error {
	ct, err := s.contactParam(c)
	if err != nil {
		return err
	}
	rows, err := s.dashboardSvc().ContactBroadcasts(c.Request().Context(), ct.ID, messaging.DepartmentScope(*currentUser(c)))
	if err != nil {
		return err
	}
	p := s.page(c, "Broadcasts received", "contacts")
	name := ct.Name
	if name == "" {
		name = ct.Phone
	}
	return render(c, http.StatusOK, pages.ContactBroadcastsPage(p, ct.ID, name, rows), pages.ContactBroadcasts(p, ct.ID, rows))
}
