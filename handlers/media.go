package handlers

import "github.com/labstack/echo/v4"

// mediaRoutes registers attachment downloads (staff) and the expiring public
// URLs Twilio fetches outbound media from.
func (s *Server) mediaRoutes(e *echo.Echo, app *echo.Group) {}
