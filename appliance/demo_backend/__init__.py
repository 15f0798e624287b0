"""A small demo back-end (CRM, calendar, helpdesk) the tools talk to in demo mode and tests."""
