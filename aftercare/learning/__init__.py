"""Learning from the store's support tickets which questions follow which email.

``ticket_export`` reads an export (any helpdesk's CSV), ``email_history`` says which emails
each customer got and what their orders were like, ``faq_rates`` relates each matched
ticket to the last email before it and counts, per (email kind, snippet), how often the
snippet's question was asked after an email it fitted.
"""
