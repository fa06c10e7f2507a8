"""targetproc"""
