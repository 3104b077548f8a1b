package messaging

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// ApplyPendingTx applies status callbacks that arrived before a message's SID
// was recorded (Twilio's callback can beat its answer to the create call).
// The broadcast engine records SIDs itself and calls this, so broadcast
// messages follow the inbox's one status path.
func ApplyPendingTx(ctx context.Context, tx pgx.Tx, sid string) (int, error) {
	return applyPendingTx(ctx, tx, sid)
}
