"""jobd's file system over 9P (docs/jobd.md, issue 19): the wire codec (pure, shared by the
server and the CLI's mount) comes first."""
