"""SmallCNN runs in channels_last (the CPU speed-up of the engine issue) and computes the same function."""

import torch

from avlib.models.encoders import GlobalAvgPool, SmallCNN


def test_channels_last_is_the_same_function_as_nchw():
    torch.manual_seed(0)
    cl = SmallCNN(width=4)
    nchw = SmallCNN(width=4, channels_last=False)
    nchw.load_state_dict(cl.state_dict())
    x = torch.randn(6, 1, 32, 51)
    assert cl.net[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert nchw.net[0].weight.is_contiguous()
    torch.testing.assert_close(cl(x), nchw(x), rtol=1e-5, atol=1e-5)


def test_frames_are_encoded_one_by_one_and_averaged():
    torch.manual_seed(0)
    net = SmallCNN(width=4).eval()
    clip = torch.randn(2, 3, 1, 28, 28)
    frames = torch.stack([net(clip[:, t]) for t in range(3)], dim=1).mean(dim=1)
    torch.testing.assert_close(net(clip), frames)


def test_global_pool_backward_keeps_channels_last():
    # a mean's broadcast gradient would reach the ReLU before it in NCHW strides: the ~30x slow path
    x = torch.randn(4, 8, 5, 7).contiguous(memory_format=torch.channels_last).requires_grad_()
    GlobalAvgPool()(torch.relu(x)).sum().backward()
    assert x.grad.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(x.grad, (x > 0).float() / 35)
