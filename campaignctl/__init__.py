"""campaignctl: the campaign queue's REST API from the command line."""
