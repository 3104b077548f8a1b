// Canned replies: typing "/" in a composer offers the department's snippets.
