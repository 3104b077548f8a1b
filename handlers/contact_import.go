package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/contactimport"
	"github.com/classline/classline/views/pages"
)

// Contact imports (admins): upload a CSV, map its columns, watch it run,
// download the rows to fix.

func (s *Server) contactImportRoutes(app *echo.Group) {
	app.GET("/contacts/import", s.contactImportPage)
	app.POST("/contacts/import", s.contactImportUpload)
	app.GET("/contacts/import/:id", s.contactImportShow)
	app.POST("/contacts/import/:id/preview", s.contactImportPreview)
	app.POST("/contacts/import/:id/run", s.contactImportRun)
	app.GET("/contacts/import/:id/errors.csv", s.contactImportErrors)
}

func (s *Server) importSvc() *contactimport.Service {
	return &contactimport.Service{DB: s.DB, Region: s.Config.DefaultRegion, Log: s.Log}
}

func importAdmin(c echo.Context) error {
	if u := currentUser(c); u == nil || !u.IsAdmin() {
		return echo.NewHTTPError(http.StatusForbidden, "Only admins can import contacts.")
	}
	return nil
}

func (s *Server) renderImportUpload(c echo.Context, status int, v pages.ImportUploadView) error {
	recent, err := s.DB.RecentContactImports(c.Request().Context(), 10)
	if err != nil {
		return err
	}
	v.Recent = recent
	p := s.page(c, "Import contacts", "contacts")
	return render(c, status, pages.ContactImportUpload(p, v), pages.ContactImportUploadContent(p, v))
}

func (s *Server) contactImportPage(c echo.Context) error {
	if err := importAdmin(c); err != nil {
		return err
	}
	return s.renderImportUpload(c, http.StatusOK, pages.ImportUploadView{})
}

func (s *Server) contactImportUpload(c echo.Context) error {
	if err := importAdmin(c); err != nil {
		return err
	}
	fh, err := c.FormFile("file")
	if err != nil || fh.Size == 0 {
		return s.renderImportUpload(c, http.StatusUnprocessableEntity, pages.ImportUploadView{Error: "Choose a CSV file to upload."})
	}
	if fh.Size > contactimport.MaxFileBytes {
		return s.renderImportUpload(c, http.StatusRequestEntityTooLarge, pages.ImportUploadView{
			Error: fmt.Sprintf("The file is larger than %d MB: split it into smaller files.", contactimport.MaxFileBytes>>20)})
	}
	f, err := fh.Open()
	if err != nil {
		return fmt.Errorf("open upload: %w", err)
	}
	defer f.Close()
	id, err := s.importSvc().Upload(c.Request().Context(), *currentUser(c), fh.Filename, f)
	var ue contactimport.UserError
	if errors.As(err, &ue) {
		return s.renderImportUpload(c, http.StatusUnprocessableEntity, pages.ImportUploadView{Error: ue.Error()})
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, pages.ImportURL(id))
}

func (s *Server) loadImport(c echo.Context) (db.ContactImport, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return db.ContactImport{}, echo.ErrNotFound
	}
	ci, err := s.DB.ContactImportByID(c.Request().Context(), id)
	if errors.Is(err, db.ErrNotFound) {
		return ci, echo.ErrNotFound
	}
	return ci, err
}

// mappingForm reads the column selects (map_0, map_1, ...) and the group.
func mappingForm(c echo.Context, columns int) contactimport.StartInput {
	in := contactimport.StartInput{Mapping: make(contactimport.Mapping, columns), NewGroup: c.FormValue("new_group")}
	for i := range columns {
		in.Mapping[i] = contactimport.Field(c.FormValue("map_" + strconv.Itoa(i)))
	}
	in.GroupID, _ = strconv.ParseInt(c.FormValue("group_id"), 10, 64)
	return in
}

func (s *Server) mappingView(c echo.Context, ci db.ContactImport, in contactimport.StartInput, errs map[string]string) (pages.ImportMappingView, error) {
	ctx := c.Request().Context()
	v := pages.ImportMappingView{Import: ci, Mapping: in.Mapping, GroupID: in.GroupID, NewGroup: in.NewGroup, Errors: errs}
	var err error
	if v.Preview, err = s.importSvc().Preview(ctx, ci.ID, in.Mapping, 10); err != nil {
		return v, err
	}
	if v.Groups, err = s.DB.StaticGroups(ctx); err != nil {
		return v, err
	}
	return v, nil
}

func (s *Server) renderMapping(c echo.Context, status int, ci db.ContactImport, in contactimport.StartInput, errs map[string]string) error {
	v, err := s.mappingView(c, ci, in, errs)
	if err != nil {
		return err
	}
	p := s.page(c, "Choose columns", "contacts")
	return render(c, status, pages.ContactImportMapping(p, v), pages.ContactImportMappingContent(p, v))
}

func (s *Server) contactImportShow(c echo.Context) error {
	if err := importAdmin(c); err != nil {
		return err
	}
	ci, err := s.loadImport(c)
	if err != nil {
		return err
	}
	if ci.Status == "mapping" {
		return s.renderMapping(c, http.StatusOK, ci, contactimport.StartInput{Mapping: contactimport.GuessMapping(ci.Header)}, nil)
	}
	if ci.Status == "running" {
		// An instance stopped mid-import: whoever looks at it first takes it
		// over (every instance also sweeps for such imports each minute).
		if ok, err := s.importSvc().ClaimStale(c.Request().Context(), ci.ID); err != nil {
			return err
		} else if ok {
			s.startImport(ci.ID)
		}
	}
	v := pages.ImportProgressView{Import: ci, MaxErrors: 500}
	p := s.page(c, "Import contacts", "contacts")
	return render(c, http.StatusOK, pages.ContactImportProgress(p, v), pages.ContactImportStatus(v))
}

func (s *Server) contactImportPreview(c echo.Context) error {
	if err := importAdmin(c); err != nil {
		return err
	}
	ci, err := s.loadImport(c)
	if err != nil {
		return err
	}
	v, err := s.mappingView(c, ci, mappingForm(c, len(ci.Header)), nil)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, pages.ContactImportPreview(v), nil)
}

func (s *Server) contactImportRun(c echo.Context) error {
	if err := importAdmin(c); err != nil {
		return err
	}
	ci, err := s.loadImport(c)
	if err != nil {
		return err
	}
	if ci.Status != "mapping" {
		return c.Redirect(http.StatusSeeOther, pages.ImportURL(ci.ID))
	}
	in := mappingForm(c, len(ci.Header))
	err = s.importSvc().Start(c.Request().Context(), *currentUser(c), ci.ID, in, c.RealIP())
	var fe contactimport.FieldErrors
	if errors.As(err, &fe) {
		return s.renderMapping(c, http.StatusUnprocessableEntity, ci, in, fe)
	}
	var ue contactimport.UserError
	if errors.As(err, &ue) {
		return s.renderMapping(c, http.StatusConflict, ci, in, map[string]string{"form": ue.Error()})
	}
	if err != nil {
		return err
	}
	s.startImport(ci.ID)
	return c.Redirect(http.StatusSeeOther, pages.ImportURL(ci.ID))
}

// startImport runs the import after the request, bound to the app: at
// shutdown it stops between batches and stays "running", to be taken over.
func (s *Server) startImport(id int64) {
	s.importSvc().RunInBackground(id, s.Messaging.Go, s.Done)
}

func (s *Server) contactImportErrors(c echo.Context) error {
	if err := importAdmin(c); err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return echo.ErrNotFound
	}
	name, body, err := s.DB.ContactImportBadRows(c.Request().Context(), id)
	if errors.Is(err, db.ErrNotFound) {
		return echo.ErrNotFound
	}
	if err != nil {
		return err
	}
	base := strings.TrimSuffix(strings.TrimSuffix(name, ".csv"), ".CSV")
	if base == "" {
		base = "contacts"
	}
	download := asciiFilename(base) + "-to-fix.csv"
	h := c.Response().Header()
	h.Set(echo.HeaderContentDisposition, `attachment; filename="`+download+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	// A BOM so Excel reads the file as UTF-8.
	return c.Blob(http.StatusOK, "text/csv; charset=utf-8", append([]byte("\xef\xbb\xbf"), body...))
}

func asciiFilename(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}
