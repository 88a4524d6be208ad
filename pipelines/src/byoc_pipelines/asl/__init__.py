"""The Amazon States Language side: ARNs, state builders, our definitions, their graph and the ASL linters.

Pure (no AWS call, no Docker): building and checking definitions needs nothing but Python, and the linters.
"""
