package handlers

import "github.com/labstack/echo/v4"

// dashboardRoutes: a broadcast's delivery report and the overall dashboard.
func (s *Server) dashboardRoutes(app *echo.Group) {
	app.GET("/dashboard", s.placeholder("dashboard", "Dashboards", "Delivery numbers per channel and department will show here once broadcasts exist."))
}
