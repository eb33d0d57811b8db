"""What a user asks for, built from the layers below: generation and its selection, scoring a sample folder,
reconstructing files, the report, the demo. Nothing below this package imports it."""
