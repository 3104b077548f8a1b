package contactimport

// ForgetRunning makes this process forget that it runs import id, as
// another process would not know: the test plays two processes in one.
func ForgetRunning(id int64) {
	activeMu.Lock()
	delete(active, id)
	activeMu.Unlock()
}
