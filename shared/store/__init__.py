"""Redis views shared by the services: campaign definitions and progress."""
