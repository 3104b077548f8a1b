package handlers

import "github.com/labstack/echo/v4"

// senderAdminRoutes registers the admin pages that register, verify, edit
// and delete senders.
func (s *Server) senderAdminRoutes(admin *echo.Group) {}
