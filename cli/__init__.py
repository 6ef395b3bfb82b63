"""``dinsos``, the operators' door: a typer app over the same services as REST and GraphQL.

Every module here imports only typer at the top; the database, the API and the importer are
imported inside the commands that need them, so that ``dinsos --help`` starts at once."""
