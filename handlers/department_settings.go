package handlers

import "github.com/labstack/echo/v4"

// departmentSettingsRoutes registers a department's own page: default
// senders, business hours and the out-of-hours reply.
func (s *Server) departmentSettingsRoutes(admin *echo.Group) {}
