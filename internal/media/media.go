// Package media stores attachments: inbound files fetched from Twilio's media
// hosts, outbound files uploaded by staff and served to Twilio at expiring URLs.
package media

// Service stores and serves attachments.
type Service struct{}
