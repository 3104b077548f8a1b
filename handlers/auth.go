package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/internal/auth"
	"github.com/classline/classline/views/pages"
)

func (s *Server) loginPage(c echo.Context) error {
	if currentUser(c) != nil {
		return c.Redirect(http.StatusSeeOther, "/inbox")
	}
	return render(c, http.StatusOK, pages.Login(s.page(c, "Sign in", ""), pages.LoginForm{Next: safeNext(c.QueryParam("next"))}), nil)
}

func (s *Server) login(c echo.Context) error {
	form := pages.LoginForm{Email: strings.TrimSpace(c.FormValue("email")), Next: safeNext(c.FormValue("next"))}
	r := c.Request()
	sess, _, err := s.Auth.Login(r.Context(), form.Email, c.FormValue("password"), c.RealIP(), r.UserAgent())
	if err != nil {
		status := http.StatusUnauthorized
		switch {
		case errors.Is(err, auth.ErrThrottled):
			status = http.StatusTooManyRequests
			form.Error = "Too many failed attempts. Wait 15 minutes and try again, or ask an admin to reset your password."
		case errors.Is(err, auth.ErrInvalidCredentials):
			form.Error = "That email and password do not match. Check them and try again."
		default:
			return err
		}
		return render(c, status, pages.Login(s.page(c, "Sign in", ""), form), nil)
	}
	// A fresh cookie with only the new session id: nothing of the signed-out
	// session (its CSRF token included) carries over.
	cs, _ := s.cookies.New(r, cookieName)
	cs.Values = map[any]any{"sid": sess.ID}
	if err := cs.Save(r, c.Response()); err != nil {
		return err
	}
	next := form.Next
	if next == "" {
		next = "/inbox"
	}
	return c.Redirect(http.StatusSeeOther, next)
}

func (s *Server) logout(c echo.Context) error {
	cs, _ := s.cookies.Get(c.Request(), cookieName)
	if sid, ok := cs.Values["sid"].(string); ok {
		if err := s.DB.DeleteSession(c.Request().Context(), sid); err != nil {
			return err
		}
	}
	cs.Options.MaxAge = -1
	cs.Values = map[any]any{}
	if err := cs.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/login")
}

// safeNext keeps only local paths, so ?next= cannot send people elsewhere.
// Browsers drop tabs and newlines from URLs and read a backslash as a slash,
// so "/\t/evil.example" would become "//evil.example": refuse them all.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return ""
	}
	for _, r := range next {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return ""
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return ""
	}
	return next
}
