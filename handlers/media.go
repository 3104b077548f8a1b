package handlers

import (
	"bytes"
	"errors"
	"mime"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/media"
	"github.com/classline/classline/internal/messaging"
)

// mediaRoutes registers attachment downloads (staff) and the expiring public
// URLs Twilio fetches outbound media from.
//
//	GET /media/:id             staff: a file of a conversation in one of their
//	                           departments (admins: all); a broadcast's file,
//	                           to whoever sees the broadcast or a conversation
//	                           it went to; an upload not yet sent, only to its
//	                           uploader. Otherwise 404.
//	GET|HEAD /public/media/:token  no session: an outbound file while its
//	                           token is valid (Twilio issues HEAD and GET).
func (s *Server) mediaRoutes(e *echo.Echo, app *echo.Group) {
	app.GET("/media/:id", s.mediaFile)
	e.GET("/public/media/:token", s.publicMediaFile)
	e.HEAD("/public/media/:token", s.publicMediaFile)
}

// mediaFile serves an attachment to staff who may see its conversation.
func (s *Server) mediaFile(c echo.Context) error {
	u := currentUser(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	ctx := c.Request().Context()
	f, err := s.DB.MediaFileByID(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	if err != nil {
		return err
	}
	// Files of conversations the user may not see answer exactly as missing
	// ones, so ids reveal nothing.
	if f.MessageID == 0 {
		// A broadcast's file is on no single message: its broadcast decides.
		ok := f.Direction == "outbound" && f.UploadedBy == u.ID
		if !ok && f.BroadcastID != 0 {
			if ok, err = s.drafts().CanSeeAttachment(ctx, *u, f.BroadcastID); err != nil {
				return err
			}
		}
		if !ok {
			return echo.NewHTTPError(http.StatusNotFound)
		}
	} else if f.ConversationID == 0 || !messaging.CanSee(*u, f.DepartmentID) {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	return s.serveMediaFile(c, f, false)
}

// publicMediaFile serves an outbound file to Twilio by its token, while the
// token is valid.
func (s *Server) publicMediaFile(c echo.Context) error {
	token := c.Param("token")
	// The request log prints the path: keep the token, a credential, out of it.
	c.Request().URL.Path = "/public/media/…"
	if len(token) < 32 || len(token) > 128 {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	f, err := s.DB.MediaFileByToken(c.Request().Context(), token)
	if errors.Is(err, db.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	if err != nil {
		return err
	}
	if f.Direction != "outbound" || f.PublicUntil == nil || !s.Now().Before(*f.PublicUntil) {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	return s.serveMediaFile(c, f, true)
}

// serveMediaFile writes a file's bytes. For staff, pictures (not SVG),
// audio, video and PDF keep their type and show inline; anything else is a
// download of type application/octet-stream. For Twilio (public), the stored
// type goes out as is: Twilio checks it, and only types it accepts are
// stored for sending. The file is never sniffed (nosniff) and, if opened as
// a page, runs sandboxed: no scripts, no same-origin access.
func (s *Server) serveMediaFile(c echo.Context, f db.MediaFile, public bool) error {
	data, err := s.DB.MediaFileData(c.Request().Context(), f.ID)
	if errors.Is(err, db.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	if err != nil {
		return err
	}
	h := c.Response().Header()
	name := f.Filename
	disposition := "attachment"
	if media.InlineSafe(f.ContentType) {
		disposition = "inline"
		h.Set(echo.HeaderContentType, media.NormalizeType(f.ContentType))
	} else {
		h.Set(echo.HeaderContentType, "application/octet-stream")
	}
	cacheControl := "private, max-age=3600"
	if public {
		// Twilio shows this name to the recipient and wants it short and plain.
		name = media.TwilioFilename(f.Filename, f.ContentType)
		disposition = "inline"
		h.Set(echo.HeaderContentType, f.ContentType)
		cacheControl = "no-store"
	}
	if cd := mime.FormatMediaType(disposition, map[string]string{"filename": name}); cd != "" {
		h.Set("Content-Disposition", cd)
	} else {
		h.Set("Content-Disposition", disposition)
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox")
	h.Set("Cache-Control", cacheControl)
	// ServeContent answers Range requests (seeking in audio and video),
	// conditional requests and HEAD.
	http.ServeContent(c.Response(), c.Request(), "", f.CreatedAt, bytes.NewReader(data))
	return nil
}
