"""Local emulation: SDK local mode, S3 as a folder, moto's Step Functions engine with our task adapter, demos."""
