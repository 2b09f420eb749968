"""One module per `primbench` subcommand; each parses options, calls the library and prints. No logic here."""
