// Broadcast wizard and broadcast page behaviour (progressive enhancement only).
