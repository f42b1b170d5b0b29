"""The dispatcher: expands started campaigns into paced batches of SendMessage commands."""
