"""archlab: runs the two architectures of the shop side by side and measures them."""
