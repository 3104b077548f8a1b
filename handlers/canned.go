package handlers

import "github.com/labstack/echo/v4"

// cannedRoutes registers canned replies and the settings pages.
func (s *Server) cannedRoutes(app, admin *echo.Group) {}
