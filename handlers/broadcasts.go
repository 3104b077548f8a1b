package handlers

import "github.com/labstack/echo/v4"

// broadcastRoutes: the broadcast list, the wizard, a broadcast's page and
// its controls, and the approval queue.
func (s *Server) broadcastRoutes(app *echo.Group) {
	app.GET("/broadcasts", s.placeholder("broadcasts", "Broadcasts", "Send one message to many families at once: snow days, trips, reminders. The broadcast wizard arrives in a coming release."))
}
