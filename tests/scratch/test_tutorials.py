"""PyTorch's "Training a classifier" tutorial (CIFAR-10) runs on the scratch engine with only
its imports changed: the network with `F.relu`, one pooling module used twice and
`torch.flatten`, the training loop, `torch.save`/`torch.load` of the state_dict, and the
evaluation that indexes the class names with tensors. Its CIFAR-10 loaders are torchvision's,
which the scratch engine does not replace: the test hands it loaders of its own over images
whose class is learnable in the tutorial's two epochs."""

import re

import numpy as np
import pytest

# The tutorial's code as it is published (the parts after its data loading).
TUTORIAL = """\
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1) # flatten all dimensions except batch
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


net = Net()

criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)

for epoch in range(2):  # loop over the dataset multiple times

    running_loss = 0.0
    for i, data in enumerate(trainloader, 0):
        # get the inputs; data is a list of [inputs, labels]
        inputs, labels = data

        # zero the parameter gradients
        optimizer.zero_grad()

        # forward + backward + optimize
        outputs = net(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()

        # print statistics
        running_loss += loss.item()
        if i % 2000 == 1999:    # print every 2000 mini-batches
            print(f'[{epoch + 1}, {i + 1:5d}] loss: {running_loss / 2000:.3f}')
            running_loss = 0.0

print('Finished Training')

PATH = './cifar_net.pth'
torch.save(net.state_dict(), PATH)

dataiter = iter(testloader)
images, labels = next(dataiter)

print('GroundTruth: ', ' '.join(f'{classes[labels[j]]:5s}' for j in range(4)))

net = Net()
net.load_state_dict(torch.load(PATH, weights_only=True))

outputs = net(images)

_, predicted = torch.max(outputs, 1)

print('Predicted: ', ' '.join(f'{classes[predicted[j]]:5s}'
                              for j in range(4)))

correct = 0
total = 0
# since we're not training, we don't need to calculate the gradients for our outputs
with torch.no_grad():
    for data in testloader:
        images, labels = data
        # calculate outputs by running images through the network
        outputs = net(images)
        # the class with the highest energy is what we choose as prediction
        _, predicted = torch.max(outputs, 1)
        total += labels.size(0)
        correct += (predicted == labels).sum().item()

print(f'Accuracy of the network on the 10000 test images: {100 * correct // total} %')

# prepare to count predictions for each class
correct_pred = {classname: 0 for classname in classes}
total_pred = {classname: 0 for classname in classes}

# again no gradients needed
with torch.no_grad():
    for data in testloader:
        images, labels = data
        outputs = net(images)
        _, predictions = torch.max(outputs, 1)
        # collect the correct predictions for each class
        for label, prediction in zip(labels, predictions):
            if label == prediction:
                correct_pred[classes[label]] += 1
            total_pred[classes[label]] += 1


# print accuracy for each class
for classname, correct_count in correct_pred.items():
    accuracy = 100 * float(correct_count) / total_pred[classname]
    print(f'Accuracy for class: {classname:5s} is {accuracy:.1f} %')
"""

ON_SCRATCH = {"import torch\n": "import cnnlab.scratch as torch\n",
              "import torch.nn as nn": "import cnnlab.scratch.nn as nn",
              "import torch.nn.functional as F": "import cnnlab.scratch.nn.functional as F",
              "import torch.optim as optim": "import cnnlab.scratch.optim as optim"}
CLASSES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _loaders(engine: str):
    """CIFAR-shaped images, 40 of each class, each class a pattern of its own under noise."""
    if engine == "scratch":
        import cnnlab.scratch as lib
        from cnnlab.scratch.utils.data import DataLoader, TensorDataset
    else:
        import torch as lib
        from torch.utils.data import DataLoader, TensorDataset
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 40)
    patterns = rng.standard_normal((10, 3, 32, 32)).astype(np.float32) * 2
    images = (patterns[labels] + 0.5 * rng.standard_normal((400, 3, 32, 32))).astype(np.float32)
    data = TensorDataset(lib.tensor(images), lib.tensor(labels))
    return DataLoader(data, batch_size=4, shuffle=True), DataLoader(data, batch_size=4)


@pytest.mark.parametrize("engine", ["torch", "scratch"])
def test_the_cifar10_tutorial_runs_with_only_its_imports_changed(engine, tmp_path,
                                                                 monkeypatch, capsys):
    code = TUTORIAL
    if engine == "scratch":
        for theirs, ours in ON_SCRATCH.items():
            assert theirs in code
            code = code.replace(theirs, ours)
    monkeypatch.chdir(tmp_path)
    if engine == "torch":
        import torch

        torch.manual_seed(0)
    else:
        import cnnlab.scratch

        cnnlab.scratch.manual_seed(0)
    trainloader, testloader = _loaders(engine)
    exec(compile(code, "tutorial.py", "exec"),  # the tutorial, run as published
         {"trainloader": trainloader, "testloader": testloader, "classes": CLASSES})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "Finished Training" and (tmp_path / "cifar_net.pth").is_file()
    truth = printed[1].split()[1:]
    assert truth == [CLASSES[label] for label in (0, 0, 0, 0)]  # the first batch, in order
    assert printed[2].startswith("Predicted: ") and len(printed[2].split()) == 5
    accuracy = int(re.fullmatch(r"Accuracy of the network on the 10000 test images: (\d+) %",
                                printed[3]).group(1))
    assert accuracy > 50  # chance is 10
    per_class = [re.fullmatch(r"Accuracy for class: (\w+) +is ([\d.]+) %", line).groups()
                 for line in printed[4:]]
    assert [name for name, _ in per_class] == list(CLASSES)
    assert np.mean([float(value) for _, value in per_class]) == pytest.approx(accuracy, abs=1)
