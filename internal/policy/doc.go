// Package policy holds Classline's domain rules as pure functions: phone
// number normalisation, the WhatsApp 24-hour customer-service window, consent
// keywords, SMS segment counting and the message-status state machine.
//
// Nothing here touches a database, the network or the clock: every function
// that depends on time takes "now" as an argument, so the rules can be tested
// as tables and reused by handlers, workers and the composer alike.
package policy

// Channels a message can travel on. They are also the values stored in the
// database and used in Twilio addresses (see Address).
const (
	ChannelWhatsApp = "whatsapp"
	ChannelSMS      = "sms"
)
