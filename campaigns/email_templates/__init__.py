"""Email templates a person picks instead of typing an id (issue 18, messaging.md "Templates").

Two sources, one interface (`selectors.py`):

- With a Messaging Service (`MESSAGING_URL`, and a transport that is not the email fallback),
  the service owns the templates: `messaging.py` lists them by channel and renders one for a
  customer through its `GET /v1/templates` and `POST /v1/templates/<id>:render`. A 404 on
  either means the service has no template API yet: the list says so and a typed id is kept.
- With no Messaging Service (the built-in email fallback), the club keeps its own email
  templates (`models.EmailTemplate`): blocks (header, text, image, button, competition card,
  footer) edited in the admin, turned into MJML (`blocks.py`) and rendered on the server to
  responsive HTML with inline styles by MRML (`rendering.py`, the `mjml-python` package).
  The club's logo, colours and address come from `models.ClubBranding` at render time, so a
  new logo reaches every template at once. Three starters (newsletter, competition invite,
  renewal reminder) are seeded by migration 0006, so they are in the club template schema and
  every new club copies them (crm/tenants/template.py).

Variables are picked from the customer's fields (`variables.py`), never typed: a template
that names any other variable is refused at save and again before sending, naming the block.
"""
