"""Server side of sync protocol v1: change log, stored rejections and conflicts, thin routes."""
