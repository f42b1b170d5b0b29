"""The sender: takes SendMessage commands, paces them, calls Twilio, reports outcomes."""
